"""What every handler shares: who is calling, and the tool / resource / prompt decorators (usage limits,
audit, honest errors; read-only mode for tools)."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

import anyio.to_thread
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, ToolAnnotations
from pydantic import BaseModel

from jarvis_mcp.errors import InvalidInput, JarvisError, NotFound
from jarvis_mcp.identity.scopes import SCOPE_READ, SCOPE_WRITE
from jarvis_mcp.runtime import Runtime, SharedRuntime
from jarvis_mcp.scope import UserScope
from jarvis_mcp.text import has_control, printable
from jarvis_mcp.tokens import SignedInToken, identity_from_access_token

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

_SECRET_WORDS = ("phrase", "secret", "password", "token", "key")
_current: contextvars.ContextVar[UserScope | None] = contextvars.ContextVar("jarvis_scope", default=None)
# Set per tools/call by AuditRejected; the tool wrapper (running in a copy of the context) marks it audited.
_audited: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("jarvis_audited", default=None)


def _redact(arguments: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in arguments.items():
        key = printable(str(name))
        if any(word in key.lower() for word in _SECRET_WORDS):
            out[key] = "[redacted]"
        else:
            out[key] = _trace(value)
    return out


def _trace(value: Any) -> Any:
    # Secrets and bulk hide inside nested arguments too (preferences, conversation turns): walk them.
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        return _redact(value)
    if isinstance(value, list | tuple):
        return [_trace(v) for v in value]
    if isinstance(value, str) and len(value) > 300:
        return printable(value[:300]) + f"… ({len(value)} chars)"
    if isinstance(value, str):
        return printable(value)  # a NUL would make the audit write fail (Postgres) and the call go unrecorded
    return value


def refuse_control(value: Any, field: str) -> None:
    """Every string inside an argument, however nested (models, lists, dict keys and values), is free of
    control characters; else a field error naming where. The field is built from names and indices only,
    never from the offending text, so the error itself stays clean."""
    if isinstance(value, str):
        if has_control(value):
            raise InvalidInput(field, "must not contain control characters")
    elif isinstance(value, Context):  # the server's own, injected
        return
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            refuse_control(getattr(value, name, None), f"{field}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_control(key, field)
            refuse_control(item, f"{field}.{key}")
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            refuse_control(item, f"{field}[{i}]")


def refuse_control_params(params: dict[str, Any]) -> None:
    """refuse_control for resource template parameters, prompt arguments and completion values: the
    protocol's invalid-params error, which the SDK passes through as it is."""
    try:
        for name, value in params.items():
            refuse_control(value, name)
    except InvalidInput as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None


# How each kind of handler says no. `exc` is None for an internal failure, whose message is only a reference.
Answer = Callable[[JarvisError | None, str], Exception]


def _tool_answer(exc: JarvisError | None, message: str) -> Exception:
    return ToolError(message)


def _resource_answer(exc: JarvisError | None, message: str) -> Exception:
    if isinstance(exc, NotFound):
        # The same answer as an unknown URI: another user's object is indistinguishable from none.
        return ResourceNotFoundError(message)
    if isinstance(exc, InvalidInput):
        return MCPError(code=INVALID_PARAMS, message=message)
    return ResourceError(message)  # the SDK answers it with this message, and logs no traceback


def _prompt_answer(exc: JarvisError | None, message: str) -> Exception:
    # Anything but MCPError escaping a prompt reaches the client as "Error rendering prompt", message lost.
    code = INVALID_PARAMS if isinstance(exc, InvalidInput | NotFound) else INTERNAL_ERROR
    return MCPError(code=code, message=message)


def require_scope(name: str, *, read_only: bool) -> None:
    """A token from our own authorization server carries the scopes the person approved: jarvis:read for
    read-only tools, jarvis:write (which includes reading) for the rest. Other callers are not scoped."""
    token = get_access_token()
    if not isinstance(token, SignedInToken):
        return
    granted = set(token.scopes)
    if SCOPE_WRITE in granted or (read_only and SCOPE_READ in granted):
        return
    needed = SCOPE_READ if read_only else SCOPE_WRITE
    raise JarvisError(f"{name} needs the {needed} scope, and this connection was approved for "
                      f"{' '.join(sorted(granted)) or 'no scope'}; reconnect and allow {needed} to use it")


def caller_scope(runtime: Runtime) -> UserScope:
    """Who is calling: the verified bearer token's identity, else (stdio, in-process) the configured user."""
    token = get_access_token()
    if token is None:
        user_id = runtime.local_user_id()
    elif isinstance(token, SignedInToken):
        user_id = token.user_id  # our own authorization server's token names the user itself
    else:
        who = identity_from_access_token(token, runtime.settings)
        user_id = runtime.store.user_for_identity(who.issuer, who.subject, who.auth_method, who.email)
    return runtime.scope_for(user_id)


class Handlers:
    def __init__(self, mcp: MCPServer[Any], shared: SharedRuntime, *, read_only: bool) -> None:
        self.mcp = mcp
        self.shared = shared
        self.read_only = read_only

    def scope(self) -> UserScope:
        """The caller, resolved by the server: a verified bearer token, else the configured local user."""
        current = _current.get()
        if current is not None:
            return current
        return caller_scope(self.shared.runtime)

    def _guarded(self, name: str, fn: F, *, read_only: bool, answer: Answer,
                 own: tuple[type[Exception], ...] = ()) -> F:
        """fn behind the edge every handler shares: the caller's usage limits (a read or a write), arguments
        free of control characters, one audit entry per call, a JarvisError answered with its message and
        anything else with an opaque reference (the traceback only in the log). `own`: errors fn raises
        already shaped for the client (a protocol error), passed on as they are."""

        @functools.wraps(fn)
        def run(**kwargs: Any) -> Any:
            scope = self.scope()
            token = _current.set(scope)
            started = time.perf_counter()
            status, error = "ok", None
            try:
                # Inside the try: a refused call (over a limit, a bad argument) runs nothing but is audited.
                require_scope(name, read_only=read_only)
                scope.usage.admit(name, read_only=read_only)
                for key, value in kwargs.items():
                    refuse_control(value, key)
                return fn(**kwargs)
            except own as exc:
                status, error = "error", printable(str(exc))
                raise
            except JarvisError as exc:
                status, error = "error", printable(str(exc))
                raise answer(exc, str(exc)) from None
            except Exception:
                ref = uuid.uuid4().hex[:12]
                log.exception("call to %s failed (reference %s)", name, ref)
                status, error = "error", f"internal error {ref}"
                raise answer(None, f"internal error (reference {ref}); the server log has the details") from None
            finally:
                _current.reset(token)
                try:
                    # An injected Context (progress reporting) is the server's, not an argument.
                    audited = {k: v for k, v in kwargs.items() if not isinstance(v, Context)}
                    scope.audit(name, _redact(audited), status, error, (time.perf_counter() - started) * 1000)
                    if (mark := _audited.get()) is not None:
                        mark.append(True)
                except Exception:  # the audit must never turn a good answer into a failure
                    log.exception("could not record the audit entry for %s", name)

        return cast(F, run)

    def tool(self, *, description: str, annotations: ToolAnnotations, title: str | None = None) -> Callable[[F], F]:
        """Register a sync tool (the SDK runs it in a worker thread), audited, with errors made safe.

        In read-only mode a tool whose annotations do not say read-only is simply not registered: the
        mode is derived from the annotations, never from a second list.
        """

        def decorate(fn: F) -> F:
            if self.read_only and not annotations.read_only_hint:
                return fn
            run = self._guarded(fn.__name__, fn, read_only=bool(annotations.read_only_hint), answer=_tool_answer)
            self.mcp.add_tool(run, name=fn.__name__, title=title, description=description, annotations=annotations)
            return fn

        return decorate

    def resource(self, uri: str, **options: Any) -> Callable[[F], F]:
        """mcp.resource behind the tools' edge, counted as a read and audited as `resource:<uri>` (a
        template's URI, its parameters as the arguments). A NotFound answers as an unknown URI does."""

        def decorate(fn: F) -> F:
            run = self._guarded(f"resource:{uri}", fn, read_only=True, answer=_resource_answer,
                                own=(MCPError, ResourceError))
            self.mcp.resource(uri, **options)(run)
            return fn

        return decorate

    def prompt(self, **options: Any) -> Callable[[F], F]:
        """mcp.prompt behind the tools' edge, counted as a read and audited as `prompt:<name>`."""

        def decorate(fn: F) -> F:
            name = options.get("name") or fn.__name__
            run = self._guarded(f"prompt:{name}", fn, read_only=True, answer=_prompt_answer, own=(MCPError,))
            self.mcp.prompt(**options)(run)
            return fn

        return decorate


@contextlib.asynccontextmanager
async def auditing_rejections(shared: SharedRuntime, tool: str) -> AsyncIterator[None]:
    """Around one tools/call: a call the SDK refuses before our wrapper runs (arguments failing the input
    schema, an unknown tool) is audited and counted too, so the history shows every call the model made."""
    mark: list[bool] = []
    token = _audited.set(mark)
    try:
        yield
    except Exception as exc:
        if not mark:
            # The tool name and the SDK's message come from the client: no raw control characters stored.
            name, error = printable(tool[:100]), printable(str(exc)[:300])
            try:
                await anyio.to_thread.run_sync(
                    lambda: caller_scope(shared.runtime).audit(name, {}, "error", error, 0.0)
                )
            except Exception:  # the audit must never change the answer
                log.exception("could not audit the rejected call to %s", name)
        raise
    finally:
        _audited.reset(token)
