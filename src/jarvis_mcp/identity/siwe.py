"""Sign-In with Ethereum (EIP-4361): the message text, and its strict check.

A wallet proves it holds an address by signing (EIP-191 personal_sign) a message that names this site's
domain and URI, a chain, a one-time nonce from our store and a time window. We check every one of those
against our own values before trusting the signature: a signature a phishing site collected for its own
domain, or an old one replayed, proves nothing here. The signer is recovered with eth-account (secp256k1
ecrecover); only externally owned accounts can sign that way. Contract wallets (EIP-1271) would need a
call to a chain node, which this server does not make, so they are refused with a message saying so.

Pure functions, every input a parameter: the routes own the settings, the clock and the nonce store.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity

MAX_AGE = timedelta(minutes=10)  # a message without an expiration time is good this long after issue
_SKEW = timedelta(minutes=1)
CONTRACT_WALLETS = "contract wallets are not supported yet; sign with an externally owned account"

# EIP-4361's ABNF, line by line. Optional lines keep their order; nothing else may appear.
_HEADER = re.compile(r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?(?P<domain>[^\s/?#@]+) wants you to sign in with "
                     r"your Ethereum account:")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_NONCE = re.compile(r"[A-Za-z0-9]{8,}")
_FIELDS = (("uri", "URI"), ("version", "Version"), ("chain_id", "Chain ID"), ("nonce", "Nonce"),
           ("issued_at", "Issued At"))
_OPTIONAL = (("expiration_time", "Expiration Time"), ("not_before", "Not Before"), ("request_id", "Request ID"))


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    statement: str | None = None
    scheme: str | None = None
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)


def new_nonce() -> str:
    """A nonce EIP-4361 accepts (alphanumeric, at least 8) with 128 bits of randomness."""
    return secrets.token_hex(16)


def _timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# eth-account and eth-utils are imported where used: eth-account alone takes ~2 s to import here, and
# every server start (stdio included) imports this module through the sign-in routes.


def make_message(domain: str, uri: str, address: str, nonce: str, chain_id: int, issued_at: datetime,
                 expiration_time: datetime | None = None, statement: str | None = None, *,
                 not_before: datetime | None = None, request_id: str | None = None,
                 resources: Sequence[str] = (), scheme: str | None = None) -> str:
    """The exact EIP-4361 text a wallet signs; the address is written in its EIP-55 form."""
    from eth_utils import to_checksum_address

    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"address {address!r} is not a 0x-prefixed 20-byte hex address")
    if not _NONCE.fullmatch(nonce):
        raise ValueError("nonce must be at least 8 letters or digits")
    if statement is not None and "\n" in statement:
        raise ValueError("statement must be one line")
    if not _HEADER.fullmatch(f"{domain} wants you to sign in with your Ethereum account:"):
        raise ValueError(f"domain {domain!r} is not a host[:port]")
    header = f"{scheme}://{domain}" if scheme else domain
    lines = [f"{header} wants you to sign in with your Ethereum account:", to_checksum_address(address), ""]
    if statement is not None:
        lines += [statement, ""]
    else:
        lines.append("")
    lines += [f"URI: {uri}", "Version: 1", f"Chain ID: {int(chain_id)}", f"Nonce: {nonce}",
              f"Issued At: {_timestamp(issued_at)}"]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {_timestamp(expiration_time)}")
    if not_before is not None:
        lines.append(f"Not Before: {_timestamp(not_before)}")
    if request_id is not None:
        lines.append(f"Request ID: {request_id}")
    if resources:
        lines += ["Resources:", *(f"- {r}" for r in resources)]
    return "\n".join(lines)


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProofError(f"the sign-in message's {name} is not an RFC 3339 time") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ProofError(f"the sign-in message's {name} is not an RFC 3339 time with a time zone")
    return parsed


def parse_message(text: str) -> SiweMessage:
    """The fields of an EIP-4361 message, or ProofError when it does not follow the format exactly."""
    from eth_utils import is_checksum_address

    bad = ProofError("the wallet signed something that is not a Sign-In with Ethereum message")
    lines = text.split("\n")
    header = _HEADER.fullmatch(lines[0]) if lines else None
    if header is None or len(lines) < 9 or not _ADDRESS.fullmatch(lines[1]) or lines[2] != "":
        raise bad
    rest = lines[3:]
    statement = None
    if rest[0] == "":
        rest = rest[1:]
    elif len(rest) > 1 and rest[1] == "" and not rest[0].startswith("URI: "):
        statement, rest = rest[0], rest[2:]
    else:
        raise bad
    values: dict[str, str] = {}
    for key, label in _FIELDS:
        if not rest or not rest[0].startswith(f"{label}: "):
            raise bad
        values[key] = rest.pop(0)[len(label) + 2:]
    for key, label in _OPTIONAL:
        if rest and rest[0].startswith(f"{label}: "):
            values[key] = rest.pop(0)[len(label) + 2:]
    resources: list[str] = []
    if rest and rest[0] == "Resources:":
        rest.pop(0)
        while rest and rest[0].startswith("- "):
            resources.append(rest.pop(0)[2:])
    if rest or values["version"] != "1" or not re.fullmatch(r"[1-9][0-9]{0,18}", values["chain_id"]) or not _NONCE.fullmatch(values["nonce"]):
        raise bad
    if not is_checksum_address(lines[1]):
        raise ProofError("the address in the sign-in message is not in its checksummed (EIP-55) form")
    return SiweMessage(
        domain=header["domain"], scheme=header["scheme"], address=lines[1], statement=statement, uri=values["uri"],
        chain_id=int(values["chain_id"]), nonce=values["nonce"], issued_at=_time(values["issued_at"], "Issued At"),
        expiration_time=_time(values["expiration_time"], "Expiration Time") if "expiration_time" in values else None,
        not_before=_time(values["not_before"], "Not Before") if "not_before" in values else None,
        request_id=values.get("request_id"), resources=tuple(resources),
    )


def _origin(uri: str) -> tuple[str, str, int | None]:
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = -1
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port or default


def _check_binding(msg: SiweMessage, domain: str, uri: str, chain_ids: set[int]) -> None:
    if msg.domain.lower() != domain.lower():
        # msg.domain is not echoed: it is the signer's text, and the error is shown on our page.
        raise ProofError(f"this sign-in message was made for another site, not for {domain}; sign in from {domain}")
    ours = _origin(uri)
    if msg.scheme is not None and msg.scheme.lower() != ours[0]:
        raise ProofError("this sign-in message names another scheme than this site's")
    if _origin(msg.uri) != ours:
        raise ProofError("this sign-in message was made for another site's address; sign in from this page")
    if msg.chain_id not in chain_ids:
        raise ProofError(f"chain {msg.chain_id} is not accepted here; switch the wallet to chain "
                         f"{', '.join(map(str, sorted(chain_ids)))}")


def _check_time(msg: SiweMessage, now: datetime, max_age: timedelta) -> None:
    if msg.issued_at > now + _SKEW:
        raise ProofError("this sign-in message is dated in the future; check the device's clock")
    if msg.expiration_time is not None and now >= msg.expiration_time:
        raise ProofError("this sign-in message has expired; sign in again")
    if now - msg.issued_at > max_age:
        raise ProofError("this sign-in message is too old; sign in again")
    if msg.not_before is not None and now + _SKEW < msg.not_before:
        raise ProofError("this sign-in message is not valid yet")


def _signer(text: str, signature: str) -> str:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    raw = signature.removeprefix("0x")
    try:
        sig = bytes.fromhex(raw)
    except ValueError:
        raise ProofError("the signature is not hex") from None
    if len(sig) != 65:
        # EIP-1271 / ERC-6492 signatures are longer or shorter than one secp256k1 signature (r, s, v).
        raise ProofError(CONTRACT_WALLETS)
    try:
        return Account.recover_message(encode_defunct(text=text), signature=sig)
    except Exception:  # eth-keys raises several types (BadSignature, ValueError) for a malformed signature
        raise ProofError("the signature could not be read; sign the message again") from None


def verify(message: str, signature: str, *, domain: str, uri: str, chain_id: int | Iterable[int], now: datetime,
           consume_nonce: Callable[[str], bool], max_age: timedelta = MAX_AGE) -> ProvenIdentity:
    """The wallet address this signed message proves, or ProofError.

    domain: our host[:port]; uri: our origin (the message's URI must be on it); chain_id: the chain(s)
    accepted; consume_nonce(nonce) -> True exactly once for a nonce this server issued (atomically in the
    store), called last, so a refused message never burns a nonce and a replay is refused.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    chains = {chain_id} if isinstance(chain_id, int) else set(chain_id)
    msg = parse_message(message)
    _check_binding(msg, domain, uri, chains)
    _check_time(msg, now, max_age)
    signer = _signer(message, signature)
    if signer != msg.address:
        raise ProofError(f"the signature was not made by {msg.address} ({CONTRACT_WALLETS})")
    if not consume_nonce(msg.nonce):
        raise ProofError("this sign-in message was already used or its nonce has expired; sign in again")
    return ProvenIdentity(issuer=f"eip155:{msg.chain_id}", subject=msg.address, auth_method="wallet",
                          display_name=f"{msg.address[:6]}…{msg.address[-4:]}")


__all__ = ["CONTRACT_WALLETS", "MAX_AGE", "SiweMessage", "make_message", "new_nonce", "parse_message", "verify"]
