"""Phone calls for one user: call_contact turns a contact (id, name or number) into a sealed call action;
the executor places it once (after confirmation when the number is not a contact); get_call reads it back.

The outbox row is the call: its id is the call id, its arguments the request, its provider_ref the
provider's conversation. The calls table only caches what the provider last said (status, transcript).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.actions.service import ActionRequest, ExecutionResult, OutcomeUnknown, ProviderError
from jarvis_mcp.calls.models import CallDetails, CallReceipt, CallTurn
from jarvis_mcp.calls.ports import AgentSpec, Caller, CallerError, CallRecord, CallRequest, PlacedCall
from jarvis_mcp.contacts.ports import ContactRecord
from jarvis_mcp.contacts.rules import normalize_phone
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.text import clean_text, fold, from_epoch

log = logging.getLogger(__name__)

KIND = "call_contact"
MAX_PURPOSE = 1000
MAX_FIRST_MESSAGE = 500
MAX_CONTACT = 200
#: Provider call states after which nothing changes: the cached transcript is final.
FINAL = ("done", "failed")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_NOT_PLACED = {"pending_confirmation": "Not placed yet: waiting for the user's confirmation.",
               "queued": "Being placed.", "sending": "Being placed.",
               "cancelled": "Not placed: the request was cancelled.",
               "expired": "Not placed: the confirmation window expired; ask again."}
UNKNOWN_CALL = "Not known whether the call was placed, so it was not placed again:"


class CallService:
    def __init__(self, user_id: str, store: Any, contacts: ContactService, caller: Caller) -> None:
        self.user_id = user_id
        self.store = store  # ContactStore & ActionStore & CallStore
        self.contacts = contacts
        self.caller = caller

    # -- requesting -------------------------------------------------------------------------------

    def request_call(self, contact: str, purpose: str, first_message: str | None = None,
                     language: str | None = None, idempotency_key: str | None = None) -> ActionRequest:
        purpose = clean_text("purpose", purpose, MAX_PURPOSE)
        if first_message is not None:
            first_message = clean_text("first_message", first_message, MAX_FIRST_MESSAGE) if first_message.strip() else None
        language = self._language(language)
        record, number = self._resolve(contact)
        if record is None:
            try:
                self.caller.default_agent()
            except CallerError as exc:
                raise JarvisError(str(exc)) from None
        who = f"{record.name} ({number})" if record else number
        brief = purpose if len(purpose) <= 200 else purpose[:199] + "…"
        return ActionRequest(
            kind=KIND,
            arguments={"contact_id": record.id if record else None, "contact_name": record.name if record else None,
                       "to_number": number, "purpose": purpose, "first_message": first_message, "language": language},
            summary=f"Phone {who} — purpose: {brief}",
            sensitive=() if record else (f"{number} is not one of your contacts",),
            idempotency_key=idempotency_key,
        )

    @staticmethod
    def receipt(request: ActionRequest, outcome: ActionOutcome) -> CallReceipt:
        args = request.arguments
        placed = outcome.status == "sent"
        result = outcome.result or {}
        if outcome.status in _NOT_PLACED:
            message = _NOT_PLACED[outcome.status]
            if outcome.how_to_confirm:
                message += " " + outcome.how_to_confirm
        elif outcome.status == "failed":
            message = f"Not placed: {outcome.error}"
        elif outcome.status == "unknown":
            message = f"{UNKNOWN_CALL} {(outcome.error or '').rstrip('.')}. {outcome.how_to_confirm}"
        else:
            message = str(result.get("message") or ("The call is being placed." if placed else "Not placed."))
        if placed:
            message += " Follow it with get_call."
        return CallReceipt(
            **outcome.model_dump(), call_id=outcome.action_id, placed=placed, message=message,
            to_number=args["to_number"], contact_id=args["contact_id"], contact_name=args["contact_name"],
            conversation_id=outcome.provider_ref if placed else None,
        )

    def _language(self, language: str | None) -> str | None:
        if language is None or not language.strip():
            user = self.store.get_user(self.user_id)
            code = (user.locale or "").replace("_", "-").split("-")[0].lower() if user else ""
            return code if _LANGUAGE.match(code) else None
        code = language.strip().replace("_", "-").lower()
        if not _LANGUAGE.match(code):
            raise InvalidInput("language", "must be a language code such as es, en or pt-br")
        return code

    def _resolve(self, contact: str) -> tuple[ContactRecord | None, str]:
        """(the contact, or None for a number that is no contact's; the E.164 number to call)."""
        text = (contact or "").strip()
        if not text:
            raise InvalidInput("contact", "give a contact id, a contact's name, or a phone number in "
                                          "international format such as +34 612 345 678")
        if len(text) > MAX_CONTACT:
            raise InvalidInput("contact", f"must be at most {MAX_CONTACT} characters")
        if _UUID.match(text):
            found = self.store.contacts_by_id(self.user_id, [text])
            if not found:
                raise NotFound("contact", text)
            return found[0], _phone_of(found[0])
        if _PHONE_LIKE.match(text) and sum(c.isdigit() for c in text) >= 3:
            try:
                number = normalize_phone(text, self.contacts.region)
            except ValueError as exc:
                raise InvalidInput("contact", str(exc)) from None
            owners = {rec.id: rec for _, rec in self.store.contacts_by_handles(self.user_id, [], [number])}
            if len(owners) > 1:
                raise InvalidInput("contact", f"{number} belongs to {len(owners)} contacts: "
                                              f"{_listed(owners.values())}. Pass the contact id")
            return (next(iter(owners.values())) if owners else None), number
        record = self._by_name(text)
        return record, _phone_of(record)

    def _by_name(self, name: str) -> ContactRecord:
        exact = self.store.contacts_by_name(self.user_id, [fold(name)])
        if len(exact) > 1:
            raise InvalidInput("contact", f"{len(exact)} contacts are called {name!r}: {_listed(exact)}. "
                                          "Pass the contact id")
        if exact:
            return exact[0]
        # "Ana" for "Ana López": every word given starts a word of the name. Fuzzier than that, a call
        # could reach the wrong person, so the rest is left to search_clients.
        words = fold(name).split()
        hits = [h for h in self.contacts.search(name, limit=10).hits if "name" in h.matched
                and all(any(part.startswith(w) for part in fold(h.name).split()) for w in words)]
        if len(hits) > 1:
            raise InvalidInput("contact", f"{name!r} matches {len(hits)} contacts: "
                                          f"{'; '.join(f'{h.name} (id {h.id})' for h in hits)}. Pass the contact id")
        found = self.store.contacts_by_id(self.user_id, [hits[0].id]) if hits else []
        if not found:
            raise NotFound("contact", name)
        return found[0]

    # -- placing (the executor) -------------------------------------------------------------------

    def execute(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult:
        contact = self._recheck(arguments)
        agent_id = self._agent(contact, arguments.get("language"))
        user = self.store.get_user(self.user_id)
        request = CallRequest(
            call_id=action_id, to_number=arguments["to_number"], agent_id=agent_id, purpose=arguments["purpose"],
            first_message=arguments.get("first_message"), language=arguments.get("language"),
            dynamic_variables={"purpose": arguments["purpose"], "contact_name": arguments.get("contact_name") or "",
                               "user_name": (user.name if user and user.name else "the person I assist")},
        )
        try:
            placed = self.caller.place(request)
        except CallerError as exc:
            if exc.ambiguous:
                raise OutcomeUnknown(str(exc), provider=self.caller.provider) from None
            raise ProviderError(str(exc)) from None
        return _verdict(placed, arguments, agent_id)

    def reconcile(self, action_id: str, arguments: dict[str, Any]) -> ExecutionResult | None:
        try:
            found = self.caller.find(action_id)
        except CallerError:
            return None
        return None if found is None else _verdict(found, arguments, None)

    def _recheck(self, arguments: dict[str, Any]) -> ContactRecord | None:
        """The target as it is now: the arguments were sealed when the call was asked for."""
        number = arguments["to_number"]
        try:
            valid = normalize_phone(number, None) == number
        except ValueError:
            valid = False
        if not valid:
            raise JarvisError(f"{number} is not a valid phone number any more; nothing was placed")
        if not arguments.get("contact_id"):
            return None
        found = self.store.contacts_by_id(self.user_id, [arguments["contact_id"]])
        name = arguments.get("contact_name") or "the contact"
        if not found:
            raise JarvisError(f"{name} is no longer among your contacts; nothing was placed")
        if number not in found[0].phones:
            raise JarvisError(f"{name}'s phone number changed since the call was asked for ({number} is no longer "
                              "theirs); nothing was placed — ask again")
        return found[0]

    def _agent(self, contact: ContactRecord | None, language: str | None) -> str | None:
        if contact is None:
            try:
                return self.caller.default_agent()
            except CallerError as exc:
                raise ProviderError(str(exc)) from None
        if not self.caller.per_contact_agents or contact.agent_id:
            return contact.agent_id
        spec = AgentSpec(contact_id=contact.id, contact_name=contact.name, voice=contact.voice,
                         personality=contact.personality, language=language)
        try:
            created = self.caller.ensure_agent(spec)
        except CallerError as exc:
            raise ProviderError(f"could not create the voice agent for {contact.name}: {exc}") from None
        saved = self.store.set_contact_agent(self.user_id, contact.id, created)
        if saved is None:
            raise JarvisError(f"{contact.name} was deleted while their voice agent was being created; nothing was placed")
        if saved != created:
            log.info("agent %s for contact %s lost a race to %s and stays unused", created, contact.id, saved)
        return saved

    # -- reading ----------------------------------------------------------------------------------

    def get_call(self, call_id: str) -> CallDetails:
        action = self.store.outbox_get(self.user_id, call_id) if call_id else None
        if action is None or action.kind != KIND:
            raise NotFound("call", call_id)
        args, result = action.arguments, action.result or {}
        placed = action.status == "sent"
        cached = self.store.call_get(self.user_id, action.id) if placed else None
        note = None
        if placed and action.provider_ref and (cached is None or cached.status not in FINAL):
            if action.provider != self.caller.provider:
                note = (f"placed through {action.provider}, which this server no longer uses: "
                        "the status cannot be checked")
            else:
                try:
                    state = self.caller.status(action.provider_ref)
                    cached = CallRecord(
                        call_id=action.id, conversation_id=action.provider_ref, status=state.status,
                        transcript=state.transcript, summary=state.summary, duration_seconds=state.duration_seconds,
                        ended_reason=state.ended_reason, updated_at=time.time(),
                    )
                    self.store.call_put(self.user_id, cached)
                except CallerError as exc:
                    note = f"could not ask {action.provider} just now ({exc}); this is the last known state"
        status = self._status(action, cached, result)
        if placed:
            message = f"Placed; the call is {status.replace('_', ' ')}."
        elif action.status == "not_delivered":
            message = str(result.get("message") or "Not placed.")
        elif action.status == "failed":
            message = f"Not placed: {action.error}"
        elif action.status == "unknown":
            message = f"{UNKNOWN_CALL} {(action.error or '').rstrip('.')}."
        else:
            message = _NOT_PLACED.get(status, f"Not placed: {status}.")
        return CallDetails(
            call_id=action.id, status=status, placed=placed, message=message, to_number=args["to_number"],
            contact_id=args.get("contact_id"), contact_name=args.get("contact_name"), purpose=args["purpose"],
            first_message=args.get("first_message"), language=args.get("language"), provider=action.provider,
            conversation_id=action.provider_ref if placed else None,
            summary=cached.summary if cached else None,
            duration_seconds=cached.duration_seconds if cached else None,
            ended_reason=cached.ended_reason if cached else None,
            transcript=[CallTurn(role=t.get("role", "?"), text=t.get("text", ""), at_seconds=t.get("at_seconds"))
                        for t in (cached.transcript if cached else ())],
            note=note, requested_at=from_epoch(action.created_at),  # type: ignore[arg-type]
            updated_at=from_epoch(max(action.updated_at, cached.updated_at if cached else 0)),  # type: ignore[arg-type]
        )

    @staticmethod
    def _status(action: Any, cached: CallRecord | None, result: dict[str, Any]) -> str:
        if action.status == "sent":
            return cached.status if cached else str(result.get("call_status") or "initiated")
        if action.status == "not_delivered":
            return "not_placed"
        if action.status == "pending_confirmation" and action.expires_at is not None and action.expires_at <= time.time():
            return "expired"
        return str(action.status)


def _phone_of(record: ContactRecord) -> str:
    if not record.phones:
        raise InvalidInput("contact", f"{record.name} has no phone number; add one with save_contact "
                                      f"(contact_id {record.id})")
    return record.phones[0]


def _listed(records: Any) -> str:
    ordered = sorted(records, key=lambda r: (fold(r.name), fold(r.company or ""), r.id))
    return "; ".join(f"{r.name}{f' ({r.company})' if r.company else ''} (id {r.id})" for r in ordered)


def _verdict(placed: PlacedCall, arguments: dict[str, Any], agent_id: str | None) -> ExecutionResult:
    result = {"placed": placed.placed, "message": placed.message, "call_status": placed.status,
              "to_number": arguments["to_number"], "contact_id": arguments.get("contact_id"),
              "agent_id": agent_id, **placed.detail}
    return ExecutionResult(status="sent" if placed.placed else "not_delivered", provider=placed.provider,
                           provider_ref=placed.ref, result=result)


__all__ = ["CallService", "KIND"]
