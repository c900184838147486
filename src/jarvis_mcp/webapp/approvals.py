"""/app/approvals: the person's pending actions, approved with the voice key or rejected, out of band.

For the webapp's mount: `routes(app)` returns the Route list to add next to the other /app pages (it is what
confirm_action's URL-mode elicitation sends the person to: /app/approvals/<action id>).

Approving needs a sign-in less than FRESH_SIGN_IN_S old (the session's signed_in_at): a browser left signed
in for hours is not enough to release an email or a call. The loopback local user (no sign-in configured)
has no sign-in to refresh; the voice key is their check. Another user's action answers 404, like a missing one.
"""

from __future__ import annotations

import functools
import time
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jarvis_mcp.actions.approvals import Approvals
from jarvis_mcp.errors import JarvisError, LimitExceeded, NotFound
from jarvis_mcp.text import printable
from jarvis_mcp.webapp.web import AppWeb, CsrfRefused, run

FRESH_SIGN_IN_S = 10 * 60
_ID_MAX = 100


def now() -> float:
    """The clock the freshness check reads (tests move it)."""
    return time.time()


def routes(app: AppWeb) -> list[Route]:
    pages = ApprovalPages(app)
    return [
        Route("/app/approvals", pages.index, methods=["GET"]),
        Route("/app/approvals/{action_id}", pages.show, methods=["GET"]),
        Route("/app/approvals/{action_id}/approve", pages.approve, methods=["POST"]),
        Route("/app/approvals/{action_id}/reject", pages.reject, methods=["POST"]),
    ]


class ApprovalPages:
    def __init__(self, app: AppWeb) -> None:
        self.app = app

    def _approvals(self, user_id: str) -> Approvals:
        return Approvals(self.app.scope(user_id).actions)

    def _render(self, request: Request, template: str, status: int = 200, **context: object) -> Response:
        return self.app.render(request, template, status, **context)

    async def _fresh(self, request: Request) -> bool:
        if self.app.local_mode:
            return True
        session = await self.app.web.session(request)
        return session is not None and now() - session.signed_in_at < FRESH_SIGN_IN_S

    def _missing(self, request: Request) -> Response:
        return self._render(request, "approvals_missing.html", 404)

    async def index(self, request: Request) -> Response:
        user_id = await self.app.user_id(request)
        if user_id is None:
            return self.app.denied(request)
        pending = await run(self._approvals(user_id).pending)
        return self._render(request, "approvals.html", pending=pending, live="outbox action")

    async def show(self, request: Request, notice: str | None = None, error: str | None = None,
                   status: int = 200) -> Response:
        user_id = await self.app.user_id(request)
        if user_id is None:
            return self.app.denied(request)
        action_id = request.path_params["action_id"][:_ID_MAX]
        try:
            action = await run(self._approvals(user_id).get, action_id)
        except NotFound:
            return self._missing(request)
        here = f"/app/approvals/{quote(action_id, safe='')}"
        return self._render(request, "approvals_one.html", status, action=action, notice=notice, error=error,
                            fresh=await self._fresh(request), here=here,
                            sign_in_again=f"/signin?next={quote(here, safe='')}", live="action")

    async def approve(self, request: Request) -> Response:
        return await self._decide(request, approve=True)

    async def reject(self, request: Request) -> Response:
        return await self._decide(request, approve=False)

    async def _decide(self, request: Request, *, approve: bool) -> Response:
        try:
            form = await self.app.form(request)
        except CsrfRefused:
            return self.app.refused(request)
        user_id = await self.app.user_id(request)
        if user_id is None:
            return self.app.denied(request)
        action_id = request.path_params["action_id"][:_ID_MAX]
        phrase = str(form.get("phrase", ""))
        if approve and not await self._fresh(request):
            # Nothing is checked, so nothing counts against the voice key.
            return await self.show(request, error="Your sign-in is more than 10 minutes old: sign in again to "
                                   "approve.", status=401)
        if approve and not phrase.strip():
            return await self.show(request, error="Type your voice key to approve.", status=400)
        scope = self.app.scope(user_id)
        name = "app:approve_action" if approve else "app:reject_action"
        started, status, error = time.perf_counter(), "ok", None
        try:
            # Counted and audited like the tool calls (confirm_action, cancel_action); the phrase never is.
            await run(functools.partial(scope.usage.admit, name, read_only=False))
            approvals = Approvals(scope.actions)
            if approve:
                outcome = await run(approvals.approve, action_id, phrase)
                done = f"Approved: {outcome.status.replace('_', ' ')}."
            else:
                await run(approvals.reject, action_id)
                done = "Rejected: nothing was carried out."
        except NotFound:
            status, error = "error", "not found"
            return self._missing(request)
        except LimitExceeded as exc:
            status, error = "error", printable(str(exc))
            return await self.show(request, error=str(exc), status=429)
        except JarvisError as exc:  # wrong or locked voice key, already decided, expired
            status, error = "error", printable(str(exc))
            return await self.show(request, error=str(exc), status=400)
        finally:
            await run(scope.audit, name, {"action_id": printable(action_id)}, status, error,
                      (time.perf_counter() - started) * 1000)
        return await self.show(request, notice=done)
