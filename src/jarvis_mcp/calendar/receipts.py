"""What the user is told about a calendar action: scheduled, cancelled, waiting, refused or unknown, and
who was told (the invitations the provider was asked to send)."""

from __future__ import annotations

from collections.abc import Sequence

from jarvis_mcp.actions.models import ActionOutcome
from jarvis_mcp.calendar.conflicts import conflict_text
from jarvis_mcp.calendar.models import CalendarEvent, EventCancelled, EventConflict, EventReceipt

REPLAYED = "This repeats an earlier identical request; nothing new was done. "


def invitations(attendees: int, local: bool, send_updates: str, what: str = "invitations") -> str:
    """What the attendees were told, as the provider was asked (sendUpdates)."""
    if not attendees:
        return f"no attendees, so no {what}"
    if local:
        return f"no {what} were sent: the local calendar keeps events on this server only"
    if send_updates == "none":
        return f"Google was asked not to email {what} to the {attendees} attendee(s)"
    if send_updates == "externalOnly":
        return f"Google emails {what} to attendees outside the user's organisation only"
    return f"Google emails {what} to the {attendees} attendee(s)"


def schedule_receipt(outcome: ActionOutcome, conflicts: Sequence[EventConflict] = ()) -> EventReceipt:
    result = outcome.result or {}
    event = CalendarEvent.model_validate(result["event"]) if result.get("event") else None
    if "conflicts" in result:
        conflicts = [EventConflict.model_validate(c) for c in result["conflicts"]]
    if outcome.status == "pending_confirmation":
        message = "Nothing is scheduled yet: it waits for the user's confirmation (see action.how_to_confirm)."
    elif event is not None:
        where = ("Added to the local calendar (jarvis://me/calendar.ics); nothing left this server"
                 if event.provider == "local" else "Created in Google Calendar")
        message = f"{where}; {result.get('invitations', '')}."
    elif outcome.status in ("failed", "cancelled", "expired"):
        message = f"Not scheduled: {outcome.error or 'the action was ' + outcome.status}."
    elif outcome.status == "unknown":
        message = f"Not known whether the event was created: {outcome.error}. {outcome.how_to_confirm}"
    else:
        message = f"The action is {outcome.status}."
    if conflicts and outcome.status != "failed":
        message += f" Overlaps: {conflict_text(conflicts)}."
    if outcome.replayed:
        message = REPLAYED + message
    return EventReceipt(action=outcome, event=event, conflicts=list(conflicts), message=message)


def cancel_receipt(outcome: ActionOutcome, event: CalendarEvent | None) -> EventCancelled:
    result = outcome.result or {}
    if result.get("event"):
        event = CalendarEvent.model_validate(result["event"])
    if outcome.status == "pending_confirmation":
        message = "Nothing is cancelled yet: it waits for the user's confirmation (see action.how_to_confirm)."
    elif outcome.status in ("completed", "sent"):
        message = f"Cancelled; {result.get('notified', '')}."
    elif outcome.status == "unknown":
        message = f"Not known whether the event was cancelled: {outcome.error}. {outcome.how_to_confirm}"
    else:
        message = f"Not cancelled: {outcome.error or 'the action was ' + outcome.status}."
    if outcome.replayed:
        message = REPLAYED + message
    assert event is not None  # a cancel is requested only for an event that was found
    return EventCancelled(action=outcome, event=event, message=message)
