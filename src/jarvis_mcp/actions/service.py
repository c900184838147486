"""Actions on the world: written to the outbox before any provider is called, run once, confirmed when sensitive.

A feature service (mail, calendar, calls, bulk deletes) turns a tool call into an ActionRequest and
provides an Executor; this service owns idempotency, the pending-confirmation lifecycle and recovery.
An action whose outcome cannot be known (no answer to a send, a crash mid-send) is `unknown`, never `failed`:
it is not done again, by a retry or by recovery, unless the person confirms it (confirm_action).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.actions.ports import ActionStore, NewOutbox, OutboxRecord
from jarvis_mcp.actions.voice_key import VoiceKeyService
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.text import from_epoch

log = logging.getLogger(__name__)

#: A retry with the same arguments inside this window is the same action (when no key is given).
DERIVED_KEY_WINDOW_S = 10 * 60
PENDING_TTL_S = 5 * 60
#: An action left 'sending' this long was interrupted (provider calls are bounded well below it).
STALE_AFTER_S = 120
_FINAL = ("sent", "not_delivered", "completed", "failed", "cancelled", "expired")
#: The provider may or may not have acted. Retries match it like a sent action (it may have happened), and
#: it is carried out again only when the person confirms that, as they would a pending action.
UNKNOWN = "unknown"
RESEND_HOW = (
    "Whether this was carried out is not known (see error), so it was not done again: it cannot happen twice. "
    "Tell the user; they can check (the recipient, their sent mail, calendar or call history). Only if they "
    "want it done again anyway, call confirm_action with this action_id and their voice key phrase, or without "
    "a phrase to ask them in your client's confirmation dialog."
)


class ProviderError(JarvisError):
    """The provider refused or failed; the message is the provider's, safe to show."""


class OutcomeUnknown(ProviderError):
    """The provider may have acted but gave no answer (a timeout mid-send). Recorded as unknown, not failed:
    a failed action is redone by an identical retry, and this one might then happen twice."""

    def __init__(self, message: str, *, provider: str = "-") -> None:
        super().__init__(message)
        self.provider = provider


@dataclass(frozen=True)
class ExecutionResult:
    status: Literal["sent", "not_delivered", "completed", "failed", "unknown"]
    provider: str
    provider_ref: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Executor(Protocol):
    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        """Carry the action out. Re-check the target here: it may have changed since it was requested.
        action_id is stable across retries: providers that take an idempotency key should get it."""
        ...


@dataclass(frozen=True)
class ActionRequest:
    kind: str
    arguments: dict[str, Any]
    summary: str
    sensitive: tuple[str, ...] = ()
    idempotency_key: str | None = None


def args_hash(kind: str, arguments: Mapping[str, Any]) -> str:
    return hashlib.sha256(f"{kind}\x1f{json.dumps(arguments, sort_keys=True, default=str)}".encode()).hexdigest()


class ActionService:
    def __init__(self, user_id: str, store: ActionStore, executors: Mapping[str, Executor],
                 voice_key: VoiceKeyService, *, always_confirm: tuple[str, ...] = (),
                 changed: Callable[[str, str | None], None] | None = None) -> None:
        self.user_id = user_id
        self.store = store
        self.executors = executors
        self.voice_key = voice_key
        self.always_confirm = always_confirm
        self.changed = changed  # told "action" with the id after every status change (live pages, subscribers)

    def submit(self, request: ActionRequest) -> ActionOutcome:
        if request.kind not in self.executors:
            raise AssertionError(f"no executor for {request.kind}")  # wiring error, not the model's
        key = request.idempotency_key
        if key is not None and not (1 <= len(key) <= 200):
            raise InvalidInput("idempotency_key", "must be 1-200 characters")
        digest = args_hash(request.kind, request.arguments)
        reasons = list(request.sensitive)
        if request.kind in self.always_confirm:
            reasons.append(f"your settings ask to confirm every {request.kind}")
        now = time.time()
        record, created = self.store.outbox_claim(
            self.user_id,
            NewOutbox(
                kind=request.kind, idempotency_key=key or f"auto:{digest}:{now}", args_hash=digest,
                arguments=request.arguments, summary=request.summary, sensitive=tuple(reasons),
                status="pending_confirmation" if reasons else "queued",
                expires_at=now + PENDING_TTL_S if reasons else None,
            ),
            # An explicit key is the whole identity of the action; without one, identical arguments
            # within the window are a retry.
            window_s=0 if key else DERIVED_KEY_WINDOW_S,
        )
        if not created:
            # Compared by hash: the stored arguments went through JSON (a tuple came back a list).
            if record.kind != request.kind or (key and args_hash(record.kind, record.arguments) != digest):
                raise InvalidInput("idempotency_key", "was already used for a different action")
            return self._outcome(record, replayed=True)
        self._tell(record.id)
        if record.status == "pending_confirmation":
            return self._outcome(record)
        return self._run(record)

    def confirm(self, action_id: str, phrase: str) -> ActionOutcome:
        """Run a pending action, or send again one whose outcome is unknown, with the person's voice key."""
        record = self._confirmable(action_id)
        self.voice_key.verify(phrase)
        return self._release(record)

    def confirm_by_person(self, action_id: str, approved: bool) -> ActionOutcome:
        """A human answered the client's confirmation dialog (MCP elicitation)."""
        record = self._confirmable(action_id)
        if not approved:
            # Declining a resend leaves the outcome as it was; there is nothing pending to drop.
            return self._outcome(record) if record.status == UNKNOWN else self.cancel(action_id)
        return self._release(record)

    def cancel(self, action_id: str) -> ActionOutcome:
        record = self._move(action_id, ["pending_confirmation"], "cancelled")
        if record is None:
            current = self._get(action_id)
            raise InvalidInput("action_id", f"cannot cancel: the action is {current.status}")
        return self._outcome(record)

    def get(self, action_id: str) -> ActionOutcome:
        record = self._get(action_id)
        if record.status in ("queued", "sending") and record.updated_at < time.time() - STALE_AFTER_S:
            return self.recover(record)  # a crash left it behind: finish it now rather than at the next start
        return self._outcome(record)

    def check_pending(self, action_id: str) -> None:
        """Raise what confirming would: not found (also for another user's), not pending, or expired."""
        self._confirmable(action_id)

    def list(self, limit: int = 50) -> list[ActionOutcome]:
        if not 1 <= limit <= 200:
            raise InvalidInput("limit", "must be between 1 and 200")
        return [self._outcome(r) for r in self.store.outbox_list(self.user_id, limit)]

    def pending_summary(self, action_id: str) -> str | None:
        record = self.store.outbox_get(self.user_id, action_id)
        if record is not None and record.status == UNKNOWN:
            return f"{record.summary}, again: the first attempt may already have gone through (its outcome is unknown)"
        if record is None or record.status != "pending_confirmation" or self._expired(record):
            return None
        return record.summary

    def recover(self, record: OutboxRecord) -> ActionOutcome:
        """Finish what a crash interrupted: never twice, never lost."""
        if record.status == "queued":
            return self._run(record)
        executor = self.executors.get(record.kind)
        try:
            verdict = executor.reconcile(record.id, record.arguments) if hasattr(executor, "reconcile") else None  # type: ignore[union-attr]
        except Exception:
            # The provider could not be asked right now: leave the row for a later sweep rather than guess.
            log.exception("reconciling action %s (%s) failed; left as it is", record.id, record.kind)
            return self._outcome(self._get(record.id))
        if verdict is None:
            # The provider may or may not have acted; sending again could duplicate it. Say so.
            verdict = ExecutionResult(
                status="unknown", provider="-",
                error="interrupted while sending; the provider cannot tell whether it went through, so it was "
                      "not done again",
            )
        done = self._move(record.id, ["sending"], verdict.status, _fields(verdict))
        return self._outcome(done or self._get(record.id))

    # -- internals ------------------------------------------------------------------------------

    def _move(self, action_id: str, from_status: list[str], to_status: str, fields: dict[str, Any] | None = None,
              *, unexpired: bool = False) -> OutboxRecord | None:
        moved = self.store.outbox_transition(self.user_id, action_id, from_status, to_status, fields,
                                             unexpired=unexpired)
        if moved is not None:
            self._tell(action_id)
        return moved

    def _tell(self, action_id: str) -> None:
        if self.changed is not None:
            self.changed("action", action_id)  # never raises (UserScope.changed)

    def _get(self, action_id: str) -> OutboxRecord:
        record = self.store.outbox_get(self.user_id, action_id)
        if record is None:
            raise NotFound("action", action_id)
        return record

    def _confirmable(self, action_id: str) -> OutboxRecord:
        record = self._get(action_id)
        if record.status == UNKNOWN:
            return record  # confirming it is the person's explicit "do it again"
        if record.status != "pending_confirmation":
            raise InvalidInput("action_id", f"nothing to confirm: the action is {record.status} (confirmations are single-use)")
        if self._expired(record):
            self._move(action_id, ["pending_confirmation"], "expired")
            raise InvalidInput("action_id", "the confirmation window has expired; ask for the action again")
        return record

    @staticmethod
    def _expired(record: OutboxRecord) -> bool:
        return record.expires_at is not None and record.expires_at <= time.time()

    def _release(self, record: OutboxRecord) -> ActionOutcome:
        if record.status == UNKNOWN:
            return self._resend(record)
        queued = self._move(
            record.id, ["pending_confirmation"], "queued", unexpired=True
        )
        if queued is None:  # confirmed twice at once, or it expired meanwhile
            raise InvalidInput("action_id", "nothing to confirm: the action was already confirmed or expired")
        return self._run(queued)

    def _resend(self, record: OutboxRecord) -> ActionOutcome:
        sending = self._move(record.id, [UNKNOWN], "sending")
        if sending is None:  # confirmed twice at once: one of them resends
            raise InvalidInput("action_id", "nothing to confirm: the action is already being done again")
        executor = self.executors[record.kind]
        try:
            found = executor.reconcile(record.id, record.arguments) if hasattr(executor, "reconcile") else None
        except Exception:
            log.warning("could not ask the provider about action %s before resending it", record.id, exc_info=True)
            found = None
        if found is not None and found.status in ("sent", "completed"):
            # The provider has it after all: the person wanted it done, and it is, once.
            done = self._move(record.id, ["sending"], found.status, _fields(found))
            return self._outcome(done or self._get(record.id))
        return self._execute(sending)

    def _run(self, record: OutboxRecord) -> ActionOutcome:
        sending = self._move(record.id, ["queued"], "sending")
        if sending is None:  # another worker took it
            return self._outcome(self._get(record.id))
        return self._execute(sending)

    def _execute(self, record: OutboxRecord) -> ActionOutcome:
        try:
            verdict = self.executors[record.kind].execute(record.id, record.arguments)
        except OutcomeUnknown as exc:
            verdict = ExecutionResult(status="unknown", provider=exc.provider, error=str(exc))
        except JarvisError as exc:
            verdict = ExecutionResult(status="failed", provider="-", error=str(exc))
        except Exception:
            log.exception("action %s (%s) failed", record.id, record.kind)
            # A fault after the provider was called would make "failed" a lie that a retry turns into a twin.
            verdict = ExecutionResult(status="unknown", provider="-",
                                      error="internal error while carrying it out; the server log has the details")
        done = self._move(record.id, ["sending"], verdict.status, _fields(verdict))
        return self._outcome(done or self._get(record.id))

    def _outcome(self, record: OutboxRecord, *, replayed: bool = False) -> ActionOutcome:
        pending = record.status == "pending_confirmation"
        how = None
        if pending:
            how = ("Read the summary to the user. To proceed, call confirm_action with this action_id and the "
                   "user's voice key phrase, or without a phrase to ask them in your client's confirmation "
                   "dialog; call cancel_action to drop it.")
            if not self.voice_key.status().has_voice_key:
                how += " The user has no voice key yet: they can set one with set_voice_key."
        elif record.status == UNKNOWN:
            how = RESEND_HOW
        return ActionOutcome(
            action_id=record.id, kind=record.kind, status=record.status,  # type: ignore[arg-type]
            summary=record.summary, confirmation_required=pending, reasons=list(record.sensitive),
            expires_at=from_epoch(record.expires_at) if pending else None, how_to_confirm=how,
            provider=record.provider, provider_ref=record.provider_ref,
            delivered=True if record.status == "sent" else (False if record.status in _FINAL else None),
            result=record.result or {}, error=record.error, replayed=replayed,
            created_at=from_epoch(record.created_at), updated_at=from_epoch(record.updated_at),
        )


def _fields(verdict: ExecutionResult) -> dict[str, Any]:
    return {"provider": verdict.provider, "provider_ref": verdict.provider_ref, "result": verdict.result,
            "error": verdict.error}
