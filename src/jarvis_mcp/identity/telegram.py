"""Telegram Login Widget: the data Telegram hands the browser, checked as Telegram's documentation says.

https://core.telegram.org/widgets/login#checking-authorization: the data-check-string is every received
field but `hash`, as `key=value`, sorted by key and joined by newlines; its HMAC-SHA256 keyed by the
SHA-256 of the bot token must equal `hash`. `auth_date` bounds how long a signed payload stays usable:
without it a link leaked from a browser history would sign its owner in forever.

Pure functions, every input a parameter: the sign-in routes own the settings, the clock and the store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from html import escape

from jarvis_mcp.identity.proofs import ProofError, ProvenIdentity

ISSUER = "telegram"
MAX_AGE_S = 86_400  # one day, as the issue asks; the caller may ask for less
_FUTURE_SKEW_S = 60  # a payload dated slightly ahead of our clock is clock drift, not an attack
_BOT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[Bb][Oo][Tt]")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NUMBER = re.compile(r"[0-9]{1,20}")  # ASCII only: str.isdigit() also takes "²" and "٤", which int() reads


def data_check_string(fields: Mapping[str, str]) -> str:
    """Telegram's data-check-string: `key=value` lines sorted by key, `hash` left out."""
    return "\n".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "hash")


def sign(fields: Mapping[str, str], bot_token: str) -> str:
    """The `hash` Telegram computes over these fields with this bot's token (hex)."""
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(fields: Mapping[str, str], *, bot_token: str, now: float, max_age_s: int = MAX_AGE_S,
           consume_hash: Callable[[str], bool] | None = None) -> ProvenIdentity:
    """The Telegram account these widget fields prove, or ProofError.

    fields: exactly what Telegram sent (id, first_name, last_name, username, photo_url, auth_date, hash and
    any field it adds later: all are signed over), none of the page's own parameters.

    consume_hash, when given, makes a payload single use (the store answers False for one already seen):
    a sign-in URL copied out of a history or a log then cannot be replayed within max_age_s.
    """
    if not bot_token:
        raise ProofError("Telegram sign-in is not configured on this server")
    received = fields.get("hash", "").lower()
    if not received:
        raise ProofError("the Telegram sign-in data has no hash; start the Telegram sign-in again")
    expected = sign(fields, bot_token)
    # Constant time: a byte-by-byte compare would let a caller find a valid hash one byte at a time.
    if not _HEX64.fullmatch(received) or not hmac.compare_digest(expected, received):
        raise ProofError("the Telegram sign-in data failed its signature check; start the Telegram sign-in again")
    user_id = fields.get("id", "")
    if not _NUMBER.fullmatch(user_id):
        raise ProofError("the Telegram sign-in data names no user id")
    auth_date = fields.get("auth_date", "")
    if not _NUMBER.fullmatch(auth_date):
        raise ProofError("the Telegram sign-in data has no auth_date")
    age = now - int(auth_date)
    if age > max_age_s:
        raise ProofError("this Telegram sign-in has expired; sign in with Telegram again")
    if age < -_FUTURE_SKEW_S:
        raise ProofError("the Telegram sign-in data is dated in the future; check this server's clock")
    if consume_hash is not None and not consume_hash(received):
        raise ProofError("this Telegram sign-in was already used; sign in with Telegram again")
    return ProvenIdentity(issuer=ISSUER, subject=str(int(user_id)), auth_method="telegram",
                          display_name=display_name(fields))


def display_name(fields: Mapping[str, str]) -> str | None:
    """First and last name as Telegram has them, else @username; None when the account shows neither."""
    name = " ".join(part for part in (fields.get("first_name", "").strip(), fields.get("last_name", "").strip()) if part)
    if name:
        return name
    username = fields.get("username", "").strip()
    return f"@{username}" if username else None


def widget_attributes(bot_username: str, *, auth_url: str | None = None, on_auth: str | None = None,
                      size: str = "large", request_write_access: bool = False) -> dict[str, str]:
    """The `data-*` attributes of Telegram's widget script tag.

    auth_url: Telegram redirects the browser there with the signed fields as query parameters.
    on_auth: instead, the name of a page function called with the fields (it can post them with the
    page's CSRF token, so an attacker's signed payload cannot sign a victim into the attacker's account).
    """
    bot = bot_username.removeprefix("@")
    if not _BOT_NAME.fullmatch(bot):
        raise ValueError(f"bot_username {bot_username!r} is not a Telegram bot username (5-32 letters, digits "
                         "or _, ending in 'bot')")
    if (auth_url is None) == (on_auth is None):
        raise ValueError("give exactly one of auth_url or on_auth")
    if size not in ("large", "medium", "small"):
        raise ValueError(f"size {size!r} must be large, medium or small")
    attrs = {"data-telegram-login": bot, "data-size": size}
    if auth_url is not None:
        if not auth_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("auth_url must be https (or loopback while developing)")
        attrs["data-auth-url"] = auth_url
    else:
        assert on_auth is not None
        if not re.fullmatch(r"[A-Za-z_$][\w$]*", on_auth):
            raise ValueError(f"on_auth {on_auth!r} must be a plain JavaScript function name")
        attrs["data-onauth"] = f"{on_auth}(user)"
    if request_write_access:
        attrs["data-request-access"] = "write"
    return attrs


WIDGET_SRC = "https://telegram.org/js/telegram-widget.js?22"


def widget_script_tag(bot_username: str, **options: object) -> str:
    """The whole `<script>` tag for a page, every attribute HTML-escaped."""
    attrs = widget_attributes(bot_username, **options)  # type: ignore[arg-type]
    rendered = " ".join(f'{name}="{escape(value, quote=True)}"' for name, value in attrs.items())
    return f'<script async src="{WIDGET_SRC}" {rendered}></script>'


__all__ = ["ISSUER", "MAX_AGE_S", "data_check_string", "display_name", "sign", "verify", "widget_attributes",
           "widget_script_tag"]
