"""Sign-In with Ethereum: real EIP-4361 messages signed in the test by a fresh secp256k1 key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from jarvis_mcp.identity import siwe
from jarvis_mcp.identity.proofs import ProofError

DOMAIN = "jarvis.example.com"
URI = "https://jarvis.example.com/signin"
NOW = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)


class Nonces:
    """The store's side: nonces issued by the server, each consumable once."""

    def __init__(self) -> None:
        self.live: set[str] = set()
        self.asked: list[str] = []

    def issue(self) -> str:
        nonce = siwe.new_nonce()
        self.live.add(nonce)
        return nonce

    def consume(self, nonce: str) -> bool:
        self.asked.append(nonce)
        if nonce in self.live:
            self.live.remove(nonce)
            return True
        return False


@pytest.fixture
def nonces() -> Nonces:
    return Nonces()


@pytest.fixture
def wallet():
    return Account.create()


def signed(wallet, text: str) -> str:
    return "0x" + wallet.sign_message(encode_defunct(text=text)).signature.hex()


def message(wallet, nonce: str, **overrides) -> str:
    args = dict(domain=DOMAIN, uri=URI, address=wallet.address, nonce=nonce, chain_id=1,
                issued_at=NOW - timedelta(seconds=30), expiration_time=NOW + timedelta(minutes=5),
                statement="Sign in to JARVIS.")
    args.update(overrides)
    return siwe.make_message(**args)


def check(text: str, signature: str, nonces: Nonces, **overrides):
    args = dict(domain=DOMAIN, uri="https://jarvis.example.com", chain_id=1, now=NOW, consume_nonce=nonces.consume)
    args.update(overrides)
    return siwe.verify(text, signature, **args)


def test_make_message_is_the_exact_eip4361_text(wallet) -> None:
    text = siwe.make_message(DOMAIN, URI, wallet.address.lower(), "abcdef1234", 1, NOW,
                             NOW + timedelta(minutes=5), "Sign in to JARVIS.", request_id="r-1",
                             resources=["https://jarvis.example.com/mcp"])
    assert text == (
        f"jarvis.example.com wants you to sign in with your Ethereum account:\n{wallet.address}\n\n"
        "Sign in to JARVIS.\n\nURI: https://jarvis.example.com/signin\nVersion: 1\nChain ID: 1\n"
        "Nonce: abcdef1234\nIssued At: 2026-12-07T22:00:00Z\nExpiration Time: 2026-12-07T22:05:00Z\n"
        "Request ID: r-1\nResources:\n- https://jarvis.example.com/mcp"
    )
    # Without a statement the ABNF leaves an empty line where it would be.
    bare = siwe.make_message(DOMAIN, URI, wallet.address, "abcdef1234", 1, NOW)
    assert f"{wallet.address}\n\n\nURI: " in bare
    parsed = siwe.parse_message(bare)
    assert parsed.statement is None and parsed.expiration_time is None and parsed.chain_id == 1


def test_a_valid_signature_proves_the_address(wallet, nonces: Nonces) -> None:
    nonce = nonces.issue()
    text = message(wallet, nonce)
    proven = check(text, signed(wallet, text), nonces)
    assert proven.issuer == "eip155:1" and proven.auth_method == "wallet"
    assert proven.subject == wallet.address and proven.email is None
    assert proven.display_name == f"{wallet.address[:6]}…{wallet.address[-4:]}"
    assert nonces.live == set()


@pytest.mark.parametrize("statement", ["Inicia sesión en JARVIS, José.", "Sign in to JARVIS — welcome back."])
def test_statements_in_spanish_and_english_sign_and_verify(wallet, nonces: Nonces, statement: str) -> None:
    text = message(wallet, nonces.issue(), statement=statement)
    assert siwe.parse_message(text).statement == statement
    assert check(text, signed(wallet, text), nonces).subject == wallet.address


def test_a_reused_nonce_is_refused(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue())
    sig = signed(wallet, text)
    check(text, sig, nonces)
    with pytest.raises(ProofError, match="already used"):
        check(text, sig, nonces)


def test_a_nonce_the_server_never_issued_is_refused(wallet, nonces: Nonces) -> None:
    text = message(wallet, "madeup12345")
    with pytest.raises(ProofError, match="already used or its nonce has expired"):
        check(text, signed(wallet, text), nonces)


@pytest.mark.parametrize(("overrides", "why"), [
    ({"domain": "evil.example.com"}, "another site, not for jarvis.example.com"),
    ({"uri": "https://evil.example.com/signin"}, "another site's address"),
    ({"uri": "http://jarvis.example.com/signin"}, "another site's address"),
    ({"chain_id": 137}, "chain 137 is not accepted"),
    ({"expiration_time": NOW - timedelta(seconds=1)}, "expired"),
    ({"issued_at": NOW - timedelta(hours=1), "expiration_time": None}, "too old"),
    ({"issued_at": NOW + timedelta(minutes=5)}, "in the future"),
    ({"not_before": NOW + timedelta(minutes=5)}, "not valid yet"),
])
def test_a_message_not_bound_to_us_or_out_of_time_is_refused(wallet, nonces: Nonces, overrides, why: str) -> None:
    nonce = nonces.issue()
    text = message(wallet, nonce, **overrides)
    with pytest.raises(ProofError, match=why):
        check(text, signed(wallet, text), nonces)
    # A refused message burns nothing: the nonce is still there for the real sign-in.
    assert nonce in nonces.live and nonces.asked == []


def test_a_tampered_message_is_refused(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue())
    sig = signed(wallet, text)
    tampered = text.replace("Sign in to JARVIS.", "Sign in to JARVIS!")
    with pytest.raises(ProofError, match="not made by"):
        check(tampered, sig, nonces)


def test_a_signature_from_another_key_is_refused(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue())
    other = Account.create()
    with pytest.raises(ProofError, match="contract wallets are not supported yet; sign with an externally owned"):
        check(text, signed(other, text), nonces)


def test_a_contract_wallet_signature_is_refused_clearly(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue())
    erc6492 = "0x" + "ab" * 200  # a smart account's wrapped signature is not one (r, s, v)
    with pytest.raises(ProofError, match=r"^contract wallets are not supported yet"):
        check(text, erc6492, nonces)


@pytest.mark.parametrize("signature", ["0xzz", "0x" + "00" * 65, ""])
def test_a_malformed_signature_is_refused(wallet, nonces: Nonces, signature: str) -> None:
    text = message(wallet, nonces.issue())
    with pytest.raises(ProofError):
        check(text, signature, nonces)


def test_a_signature_with_v_0_or_1_still_recovers(wallet, nonces: Nonces) -> None:
    # Some wallets (Ledger) return v as 0/1 instead of 27/28.
    text = message(wallet, nonces.issue())
    raw = bytearray(bytes.fromhex(signed(wallet, text)[2:]))
    raw[64] -= 27
    assert check(text, raw.hex(), nonces).subject == wallet.address


@pytest.mark.parametrize("mangle", [
    lambda t: t.replace(" wants you to sign in", " wants you to log in"),
    lambda t: t.replace("Version: 1", "Version: 2"),
    lambda t: t.replace("\nNonce:", "\nExtra: x\nNonce:"),
    lambda t: t + "\n",
    lambda t: t.replace("Chain ID: 1", "Chain ID: one"),
    lambda t: t.replace("Issued At: 2026-12-07T21:59:30Z", "Issued At: yesterday"),
    lambda t: t.replace("Issued At: 2026-12-07T21:59:30Z", "Issued At: 2026-12-07T21:59:30"),
    lambda t: "",
])
def test_a_message_off_the_format_is_refused(wallet, nonces: Nonces, mangle) -> None:
    text = mangle(message(wallet, nonces.issue()))
    with pytest.raises(ProofError):
        check(text, signed(wallet, text), nonces)
    assert nonces.asked == []


def test_an_address_not_in_eip55_form_is_refused(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue()).replace(wallet.address, wallet.address.lower())
    with pytest.raises(ProofError, match="EIP-55"):
        check(text, signed(wallet, text), nonces)


def test_several_chains_may_be_accepted(wallet, nonces: Nonces) -> None:
    text = message(wallet, nonces.issue(), chain_id=137)
    assert check(text, signed(wallet, text), nonces, chain_id=[1, 137]).issuer == "eip155:137"


def test_make_message_refuses_bad_input(wallet) -> None:
    with pytest.raises(ValueError, match="nonce"):
        siwe.make_message(DOMAIN, URI, wallet.address, "short", 1, NOW)
    with pytest.raises(ValueError, match="address"):
        siwe.make_message(DOMAIN, URI, "0x1234", "abcdef1234", 1, NOW)
    with pytest.raises(ValueError, match="statement"):
        siwe.make_message(DOMAIN, URI, wallet.address, "abcdef1234", 1, NOW, statement="two\nlines")
    with pytest.raises(ValueError, match="time zone"):
        siwe.make_message(DOMAIN, URI, wallet.address, "abcdef1234", 1, NOW.replace(tzinfo=None))
