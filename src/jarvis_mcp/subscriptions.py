"""Resource subscriptions: a client watching jarvis://me/outbox (or one action, memory, document, contact)
is told `notifications/resources/updated` when it changes, whichever server process made the change.

Both protocol eras the SDK speaks:
- 2025-11-25 (handshake sessions): `resources/subscribe` / `resources/unsubscribe`; the notices go out on
  the subscribing connection, from one task per connection that watches the caller's changes.
- 2026-07-28: `subscriptions/listen`, whose response stream carries the notices. The SDK's own listen
  handler fans one process-wide bus out to every stream, but our URIs say "me": every user's outbox is
  jarvis://me/outbox, so a shared bus would tell user A about user B's email. This handler replaces it and
  listens to the caller's changes alone.

Notices come from the change bus (events.py); what a change touches is events.uris_for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import anyio.to_thread
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import SUBSCRIPTION_ID_META_KEY, ResourceUpdated, event_to_notification
from mcp.types import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    EmptyResult,
    ReadResourceRequestParams,
    SubscribeRequestParams,
    SubscriptionFilter,
    SubscriptionsAcknowledgedNotification,
    SubscriptionsAcknowledgedNotificationParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
    UnsubscribeRequestParams,
)

from jarvis_mcp.events import ChangeBus, uris_for
from jarvis_mcp.handlers import Handlers, caller_scope
from jarvis_mcp.render import json_text
from jarvis_mcp.runtime import SharedRuntime

log = logging.getLogger(__name__)

MAX_LISTEN_STREAMS = 1024  # per process, as the SDK's own listen handler bounds them
_WATCHES = "jarvis.subscriptions"  # key in Connection.state: that connection's watches, by user


class ConnectionWatch:
    """The resources one legacy connection subscribed to, and the task telling it when they change."""

    def __init__(self, connection: Connection, bus: ChangeBus, user_id: str) -> None:
        self.connection = connection
        self.bus = bus
        self.user_id = user_id
        self.uris: set[str] = set()
        self._ready = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._pump(), name="jarvis-resource-updates")

    async def started(self) -> None:
        # Watching before the subscribe is answered: a change right after the answer is not missed.
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def _pump(self) -> None:
        try:
            async with self.bus.subscribe(self.user_id) as changes:
                self._ready.set()
                async for change in changes:
                    for uri in sorted(uris_for(change) & self.uris):
                        await self.connection.send_resource_updated(uri)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection went away mid-send: nothing left to tell
            log.debug("resource updates for a connection stopped: %s", exc)
        finally:
            self._ready.set()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _honored(requested: SubscriptionFilter) -> SubscriptionFilter:
    """What the listen stream acknowledges: every kind asked for (as the SDK's handler does). Lists of tools,
    prompts and resources never change here, so those kinds are honored and never fire."""
    return SubscriptionFilter(
        tools_list_changed=True if requested.tools_list_changed else None,
        prompts_list_changed=True if requested.prompts_list_changed else None,
        resources_list_changed=True if requested.resources_list_changed else None,
        resource_subscriptions=list(requested.resource_subscriptions) if requested.resource_subscriptions else None,
    )


def register_resources(h: Handlers) -> None:
    """One action as a resource, so a client can watch that one email, event or call until it is done."""

    @h.resource("jarvis://me/actions/{action_id}", name="action", mime_type="application/json",
                description="One of your actions (an email, event, call or deletion) and its status; "
                            "subscribe to it to be told when the status changes.")
    def action(action_id: str) -> str:
        return json_text(h.scope().actions.get(action_id))


def register(mcp: MCPServer[Any], shared: SharedRuntime) -> None:
    low = mcp._lowlevel_server  # MCPServer registers no resources/subscribe handler (MCP-SDK-V2.md)
    streams = 0

    def caller() -> str:
        return caller_scope(shared.runtime).user_id

    def bus() -> ChangeBus:
        return shared.runtime.changes

    async def subscribe(ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        uri = str(params.uri)
        # Reading it as the caller is the ownership check: another user's object, or an unknown URI, answers
        # exactly as its read does (not found), and a subscription is never to something the caller can't see.
        await mcp._handle_read_resource(ctx, ReadResourceRequestParams(uri=uri))
        user_id = await anyio.to_thread.run_sync(caller)
        connection = ctx.session._connection  # the SDK keeps per-connection state and teardown there
        watches: dict[str, ConnectionWatch] = connection.state.setdefault(_WATCHES, {})
        watch = watches.get(user_id)
        if watch is None:
            watch = watches[user_id] = ConnectionWatch(connection, bus(), user_id)
            connection.exit_stack.push_async_callback(watch.stop)
            await watch.started()
        watch.uris.add(uri)
        return EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
        user_id = await anyio.to_thread.run_sync(caller)
        watch = ctx.session._connection.state.get(_WATCHES, {}).get(str(user_id))
        if watch is not None:
            watch.uris.discard(str(params.uri))  # unknown or never subscribed: nothing to stop, not an error
        return EmptyResult()

    async def listen(ctx: ServerRequestContext[Any, Any],
                     params: SubscriptionsListenRequestParams) -> SubscriptionsListenResult:
        nonlocal streams
        subscription_id = ctx.request_id
        if subscription_id is None:
            raise MCPError(INVALID_REQUEST, "subscriptions/listen requires a request id")
        if streams >= MAX_LISTEN_STREAMS:
            raise MCPError(INTERNAL_ERROR, "Subscription limit reached")
        user_id = await anyio.to_thread.run_sync(caller)
        honored = _honored(params.notifications)
        uris = frozenset(honored.resource_subscriptions or ())
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
        streams += 1
        try:
            # Subscribed before the acknowledgement, which is still the stream's first frame.
            async with bus().subscribe(user_id) as changes:
                await ctx.session.send_notification(
                    SubscriptionsAcknowledgedNotification(
                        params=SubscriptionsAcknowledgedNotificationParams(notifications=honored, _meta=meta)),
                    related_request_id=subscription_id)
                async for change in changes:  # until the client goes away (the SDK cancels this handler)
                    for uri in sorted(uris_for(change) & uris):
                        await ctx.session.send_notification(
                            event_to_notification(ResourceUpdated(uri=uri), meta), related_request_id=subscription_id)
        finally:
            streams -= 1
        return SubscriptionsListenResult(_meta=meta)

    low.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)
