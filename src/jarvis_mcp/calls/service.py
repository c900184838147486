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
from jarvis_mcp.calls.models import CallDetails, CallReceipt, CallTurn, ContactVoice
from jarvis_mcp.calls.outcomes import FINAL, CallOutcomes
from jarvis_mcp.calls.ports import AgentSpec, Caller, CallerError, CallRecord, CallRequest, PlacedCall
from jarvis_mcp.calls.voices import MAX_PERSONALITY, voice_id
from jarvis_mcp.contacts.ports import ContactRecord
from jarvis_mcp.contacts.rules import normalize_phone
from jarvis_mcp.contacts.service import ContactService
from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.text import clean_text, from_epoch

log = logging.getLogger(__name__)

KIND = "call_contact"
MAX_PURPOSE = 1000
MAX_FIRST_MESSAGE = 500
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_NOT_PLACED = {"pending_confirmation": "Not placed yet: waiting for the user's confirmation.",
               "queued": "Being placed.", "sending": "Being placed.",
               "cancelled": "Not placed: the request was cancelled.",
               "expired": "Not placed: the confirmation window expired; ask again."}
UNKNOWN_CALL = "Not known whether the call was placed, so it was not placed again:"


class CallService:
    def __init__(self, user_id: str, store: Any, contacts: ContactService, caller: Caller,
                 outcomes: CallOutcomes | None = None) -> None:
        self.user_id = user_id
        self.store = store  # ActionStore & CallStore, and the user's row for their name and language
        self.contacts = contacts
        self.caller = caller
        self.outcomes = outcomes or CallOutcomes(user_id, store, None, None)

    # -- requesting -------------------------------------------------------------------------------

    def request_call(self, contact: str, purpose: str, first_message: str | None = None,
                     language: str | None = None, idempotency_key: str | None = None) -> ActionRequest:
        purpose = clean_text("purpose", purpose, MAX_PURPOSE)
        if first_message is not None:
            first_message = clean_text("first_message", first_message, MAX_FIRST_MESSAGE) if first_message.strip() else None
        language = self._language(language)
        # The contact, or None for a number that is no contact's (a call then waits for confirmation).
        found = self.contacts.resolve(contact, "phone", field="contact")
        record, number = found.contact, found.handle
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

    # -- the contact's voice agent ------------------------------------------------------------------

    def set_voice(self, contact: str, voice: str | None, personality: str | None) -> ContactVoice:
        """Save how the contact's agent sounds; an agent already made is updated now, else made on first call."""
        if (voice is None or not voice.strip()) and (personality is None or not personality.strip()):
            raise InvalidInput("voice", "give a voice, a personality, or both")
        chosen = voice_id(voice) if voice and voice.strip() else None
        style = clean_text("personality", personality, MAX_PERSONALITY) if personality and personality.strip() else None
        record = self.contacts.resolve(contact, "phone", field="contact").contact
        if record is None:
            raise InvalidInput("contact", "must be one of your contacts (save the number as a contact first)")
        agent_id = self.store.set_contact_voice(self.user_id, record.id, chosen or record.voice,
                                                style or record.personality)
        if agent_id is None:
            raise NotFound("contact", contact)
        note = "Saved; the contact's voice agent is made with it on the first call."
        if agent_id and self.caller.per_contact_agents:
            spec = AgentSpec(contact_id=record.id, contact_name=record.name, voice=chosen or record.voice,
                             personality=style or record.personality, language=None,
                             relationship=record.relationship)
            try:
                self.caller.update_agent(agent_id, spec)
                note = "Saved, and the contact's voice agent was updated."
            except CallerError as exc:
                note = f"Saved, but the voice agent could not be updated just now ({exc}); ask again later."
        return ContactVoice(contact_id=record.id, contact_name=record.name, voice=chosen or record.voice,
                            personality=style or record.personality, agent_id=agent_id or None, message=note)

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
        found = self.contacts.current([arguments["contact_id"]]).get(arguments["contact_id"])
        name = arguments.get("contact_name") or "the contact"
        if found is None:
            raise JarvisError(f"{name} is no longer among your contacts; nothing was placed")
        if number not in found.phones:
            raise JarvisError(f"{name}'s phone number changed since the call was asked for ({number} is no longer "
                              "theirs); nothing was placed — ask again")
        return found

    def _agent(self, contact: ContactRecord | None, language: str | None) -> str | None:
        if contact is None:
            try:
                return self.caller.default_agent()
            except CallerError as exc:
                raise ProviderError(str(exc)) from None
        if not self.caller.per_contact_agents:
            return contact.agent_id
        spec = AgentSpec(contact_id=contact.id, contact_name=contact.name, voice=contact.voice,
                         personality=contact.personality, language=language, relationship=contact.relationship)
        if contact.agent_id:
            # The relationship may have been edited since the agent was made (save_contact knows nothing of
            # agents): bring it up to date before it speaks. A failed update still places the call.
            try:
                self.caller.update_agent(contact.agent_id, spec)
            except CallerError as exc:
                log.warning("voice agent %s for contact %s not updated before the call: %s",
                            contact.agent_id, contact.id, exc)
            return contact.agent_id
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
                    cached = self.outcomes.record(action.id, action.provider_ref, state)
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
            note=note, requested_at=from_epoch(action.created_at),
            updated_at=from_epoch(max(action.updated_at, cached.updated_at if cached else 0)),
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


def _verdict(placed: PlacedCall, arguments: dict[str, Any], agent_id: str | None) -> ExecutionResult:
    result = {"placed": placed.placed, "message": placed.message, "call_status": placed.status,
              "to_number": arguments["to_number"], "contact_id": arguments.get("contact_id"),
              "agent_id": agent_id, **placed.detail}
    return ExecutionResult(status="sent" if placed.placed else "not_delivered", provider=placed.provider,
                           provider_ref=placed.ref, result=result)


__all__ = ["CallService", "KIND"]
