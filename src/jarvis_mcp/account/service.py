"""The user's profile, history and usage."""

from __future__ import annotations

import re

from jarvis_mcp.account.models import ActionEntry, ConversationEntry, History, Profile, Usage, UsageDay
from jarvis_mcp.account.ports import HistoryStore, UserRecord, UserStore
from jarvis_mcp.errors import InvalidInput
from jarvis_mcp.memory.ports import MemoryStore
from jarvis_mcp.memory.service import to_memory
from jarvis_mcp.text import clean_text, from_epoch, valid_zone

_LOCALE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_PROFILE_ASKS = ("name", "timezone", "locale", "pronouns")


def to_profile(user: UserRecord) -> Profile:
    missing = [f for f in _PROFILE_ASKS if not getattr(user, f)]
    return Profile(
        name=user.name, pronouns=user.pronouns, timezone=user.timezone, locale=user.locale,
        preferences=user.preferences, onboarding_complete=user.name is not None, missing=missing,
        member_since=from_epoch(user.created_at),
    )


class AccountService:
    def __init__(self, user_id: str, users: UserStore, history: HistoryStore, memories: MemoryStore) -> None:
        self.user_id = user_id
        self._users = users
        self._history = history
        self._memories = memories

    def _user(self) -> UserRecord:
        user = self._users.get_user(self.user_id)
        if user is None:  # the identity layer creates users; a vanished one is a server-side fault
            raise RuntimeError("caller has no user record")
        return user

    def profile(self) -> Profile:
        return to_profile(self._user())

    def set_profile(self, name: str | None = None, pronouns: str | None = None, timezone: str | None = None,
                    locale: str | None = None, preferences: dict[str, str] | None = None) -> Profile:
        """Only the fields given change. In preferences, an empty value removes that key."""
        fields: dict[str, object] = {}
        if name is not None:
            fields["name"] = clean_text("name", name, 100)
        if pronouns is not None:
            fields["pronouns"] = clean_text("pronouns", pronouns, 40)
        if timezone is not None:
            fields["timezone"] = valid_zone("timezone", timezone).key
        if locale is not None:
            if not _LOCALE.match(locale):
                raise InvalidInput("locale", f"{locale!r} is not a language tag (e.g. es, es-ES, en-US)")
            fields["locale"] = locale.replace("_", "-")
        if preferences is not None:
            merged = dict(self._user().preferences)
            for key, value in preferences.items():
                if not key.strip() or len(key) > 64:
                    raise InvalidInput("preferences", f"key {key!r} must be 1-64 characters")
                if len(value) > 500:
                    raise InvalidInput(f"preferences.{key}", "must be at most 500 characters")
                if value.strip():
                    merged[key.strip()] = value.strip()
                else:
                    merged.pop(key.strip(), None)
            if len(merged) > 50:
                raise InvalidInput("preferences", "at most 50 preferences")
            fields["preferences"] = merged
        if not fields:
            raise InvalidInput("set_profile", "give at least one of name, pronouns, timezone, locale, preferences")
        return to_profile(self._users.update_user(self.user_id, fields))

    def history(self, limit: int = 20) -> History:
        if not 1 <= limit <= 200:
            raise InvalidInput("limit", "must be between 1 and 200")
        return History(
            conversations=[
                ConversationEntry(conversation_id=c.id, title=c.title, started_at=from_epoch(c.started_at), turns=c.turns)
                for c in self._history.recent_conversations(self.user_id, limit)
            ],
            recent_memories=[to_memory(r) for r in self._memories.recent_memories(self.user_id, limit)],
            actions=[
                ActionEntry(tool=a.tool, status=a.status, error=a.error, at=from_epoch(a.created_at), duration_ms=round(a.duration_ms, 2))
                for a in self._history.recent_actions(self.user_id, limit)
            ],
        )

    def usage(self, days: int = 30) -> Usage:
        return Usage(
            memories=self._memories.count_memories(self.user_id),
            conversations=len(self._history.recent_conversations(self.user_id, 10_000)),
            days=[UsageDay(day=d, tool=t, calls=c, errors=e) for d, t, c, e in self._history.usage(self.user_id, days)],
        )
