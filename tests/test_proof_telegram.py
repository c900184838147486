"""Telegram Login Widget data, signed here the way Telegram signs it, with a test bot token."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from jarvis_mcp.identity import telegram
from jarvis_mcp.identity.proofs import ProofError

BOT_TOKEN = "123456789:AAH-test-token-for-the-suite_x"
NOW = 1_796_000_000


def telegram_signs(fields: dict[str, str], token: str = BOT_TOKEN) -> dict[str, str]:
    """What Telegram sends: written out from its documentation, not through the module under test."""
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hashlib.sha256(token.encode()).digest()
    return {**fields, "hash": hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()}


def widget_data(**overrides: str) -> dict[str, str]:
    fields = {"id": "424242", "first_name": "Ana", "last_name": "García", "username": "ana_g",
              "photo_url": "https://t.me/i/userpic/320/ana.jpg", "auth_date": str(NOW - 60)}
    fields.update(overrides)
    return telegram_signs(fields)


def test_valid_data_proves_the_telegram_account() -> None:
    proven = telegram.verify(widget_data(), bot_token=BOT_TOKEN, now=NOW)
    assert (proven.issuer, proven.subject, proven.auth_method) == ("telegram", "424242", "telegram")
    assert proven.display_name == "Ana García" and proven.email is None


@pytest.mark.parametrize(("fields", "name"), [
    ({"first_name": "José", "last_name": "Núñez"}, "José Núñez"),
    ({"first_name": "Jim"}, "Jim"),
    ({"username": "only_user"}, "@only_user"),
    ({}, None),
])
def test_display_name_in_spanish_and_english(fields: dict[str, str], name: str | None) -> None:
    data = telegram_signs({"id": "7", "auth_date": str(NOW), **fields})
    assert telegram.verify(data, bot_token=BOT_TOKEN, now=NOW).display_name == name


@pytest.mark.parametrize("field", ["id", "first_name", "username", "auth_date"])
def test_a_tampered_field_is_refused(field: str) -> None:
    data = widget_data()
    data[field] = "1" + data[field]
    with pytest.raises(ProofError, match="signature check"):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW)


def test_an_added_field_is_refused() -> None:
    data = {**widget_data(), "is_admin": "true"}
    with pytest.raises(ProofError, match="signature check"):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW)


def test_data_signed_with_another_bot_token_is_refused() -> None:
    data = telegram_signs({"id": "424242", "auth_date": str(NOW)}, token="987654321:another-bot")
    with pytest.raises(ProofError, match="signature check"):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW)


def test_stale_auth_date_is_refused_and_max_age_is_a_parameter() -> None:
    data = widget_data(auth_date=str(NOW - 86_401))
    with pytest.raises(ProofError, match="expired"):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW)
    recent = widget_data(auth_date=str(NOW - 600))
    assert telegram.verify(recent, bot_token=BOT_TOKEN, now=NOW).subject == "424242"
    with pytest.raises(ProofError, match="expired"):
        telegram.verify(recent, bot_token=BOT_TOKEN, now=NOW, max_age_s=300)


def test_auth_date_in_the_future_is_refused() -> None:
    with pytest.raises(ProofError, match="future"):
        telegram.verify(widget_data(auth_date=str(NOW + 3600)), bot_token=BOT_TOKEN, now=NOW)


@pytest.mark.parametrize("hash_value", [None, "", "zz" * 32, "ab"])
def test_missing_or_malformed_hash_is_refused(hash_value: str | None) -> None:
    data = widget_data()
    if hash_value is None:
        del data["hash"]
    else:
        data["hash"] = hash_value
    with pytest.raises(ProofError):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW)


def test_an_uppercase_hash_is_the_same_hash() -> None:
    data = widget_data()
    data["hash"] = data["hash"].upper()
    assert telegram.verify(data, bot_token=BOT_TOKEN, now=NOW).subject == "424242"


def test_signed_data_without_a_user_id_or_date_is_refused() -> None:
    with pytest.raises(ProofError, match="user id"):
        telegram.verify(telegram_signs({"auth_date": str(NOW)}), bot_token=BOT_TOKEN, now=NOW)
    with pytest.raises(ProofError, match="auth_date"):
        telegram.verify(telegram_signs({"id": "5"}), bot_token=BOT_TOKEN, now=NOW)
    # Digits int() would read but Telegram never sends: one user id must have one spelling.
    with pytest.raises(ProofError, match="user id"):
        telegram.verify(telegram_signs({"id": "\u0664\u0662", "auth_date": str(NOW)}), bot_token=BOT_TOKEN, now=NOW)


def test_an_unconfigured_bot_refuses_everything() -> None:
    with pytest.raises(ProofError, match="not configured"):
        telegram.verify(telegram_signs({"id": "5", "auth_date": str(NOW)}, token=""), bot_token="", now=NOW)


def test_consume_hash_makes_a_payload_single_use() -> None:
    seen: set[str] = set()

    def consume(h: str) -> bool:
        if h in seen:
            return False
        seen.add(h)
        return True

    data = widget_data()
    telegram.verify(data, bot_token=BOT_TOKEN, now=NOW, consume_hash=consume)
    with pytest.raises(ProofError, match="already used"):
        telegram.verify(data, bot_token=BOT_TOKEN, now=NOW, consume_hash=consume)
    # A refused payload never reaches the store.
    bad = {**data, "hash": "0" * 64}
    with pytest.raises(ProofError, match="signature"):
        telegram.verify(bad, bot_token=BOT_TOKEN, now=NOW, consume_hash=lambda h: pytest.fail("consumed"))


def test_sign_matches_telegrams_algorithm() -> None:
    data = widget_data()
    assert telegram.sign(data, BOT_TOKEN) == data["hash"]
    assert telegram.data_check_string({"b": "2", "a": "1", "hash": "x"}) == "a=1\nb=2"


def test_widget_attributes_and_script_tag() -> None:
    attrs = telegram.widget_attributes("@JarvisTestBot", auth_url="https://jarvis.example.com/signin/telegram")
    assert attrs == {"data-telegram-login": "JarvisTestBot", "data-size": "large",
                     "data-auth-url": "https://jarvis.example.com/signin/telegram"}
    assert telegram.widget_attributes("jarvis_bot", on_auth="onTelegramAuth",
                                      request_write_access=True)["data-onauth"] == "onTelegramAuth(user)"
    tag = telegram.widget_script_tag("JarvisTestBot", auth_url='https://jarvis.example.com/t?a=1&b="2"')
    assert tag.startswith('<script async src="https://telegram.org/js/telegram-widget.js?22" ')
    assert 'data-auth-url="https://jarvis.example.com/t?a=1&amp;b=&quot;2&quot;"' in tag


@pytest.mark.parametrize(("name", "options", "field"), [
    ("not a bot", {"auth_url": "https://x.example"}, "bot_username"),
    ("JarvisTestBot", {}, "auth_url or on_auth"),
    ("JarvisTestBot", {"auth_url": "http://evil.example/cb"}, "auth_url"),
    ("JarvisTestBot", {"on_auth": "alert(1);x"}, "on_auth"),
    ("JarvisTestBot", {"auth_url": "https://x.example", "size": "huge"}, "size"),
])
def test_widget_attributes_refuse_bad_configuration(name: str, options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        telegram.widget_attributes(name, **options)
