"""The sign-in methods: which are asked for (JARVIS_SIGN_IN), which are configured, what each still needs.
Adding a method is one entry here plus its routes in pages.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jarvis_mcp.config import Settings


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    needs: Callable[[Settings], list[str]]  # the settings still missing; empty when it can be offered


def _email(s: Settings) -> list[str]:
    # Gmail sends as one connected user; a sign-in link is sent before anyone is signed in.
    return [] if s.mailer in ("outbox", "smtp") else ["JARVIS_MAILER=outbox or smtp (gmail sends only as a user)"]


def _google(s: Settings) -> list[str]:
    return [n for n, v in (("JARVIS_GOOGLE_CLIENT_ID", s.google_client_id),
                           ("JARVIS_GOOGLE_CLIENT_SECRET", s.google_client_secret)) if not v]


def _telegram(s: Settings) -> list[str]:
    return [n for n, v in (("JARVIS_TELEGRAM_BOT_TOKEN", s.telegram_bot_token),
                           ("JARVIS_TELEGRAM_BOT_NAME", s.telegram_bot_name)) if not v]


METHODS: dict[str, Method] = {
    "email": Method("email", "Email link", _email),
    "google": Method("google", "Google", _google),
    "wallet": Method("wallet", "Ethereum wallet", lambda s: []),
    "telegram": Method("telegram", "Telegram", _telegram),
}


def offered(settings: Settings) -> list[Method]:
    """The methods the sign-in page shows: asked for and configured, in the order asked."""
    return [METHODS[n] for n in settings.sign_in if n in METHODS and not METHODS[n].needs(settings)]


def report(settings: Settings) -> list[str]:
    """One line per asked-for method, for `doctor`."""
    lines = []
    for name in settings.sign_in:
        missing = METHODS[name].needs(settings)
        lines.append(f"{name}: {'ready' if not missing else 'not offered, needs ' + ', '.join(missing)}")
    return lines
