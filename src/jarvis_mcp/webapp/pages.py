"""The pages of /app: home, activity, memories, documents, contacts, connections. Each handler resolves the
person, takes their UserScope and calls one service; another person's id answers like a missing one."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jarvis_mcp.errors import InvalidInput, JarvisError, LimitExceeded, NotFound
from jarvis_mcp.identity.methods import offered
from jarvis_mcp.scope import UserScope
from jarvis_mcp.webapp.forms import contact_fields, upload
from jarvis_mcp.webapp.web import AppWeb, CsrfRefused, run

Page = Callable[[Request, UserScope], Awaitable[Response]]
_FORM_OVERHEAD = 64 * 1024  # the upload form's other fields and multipart framing, besides the file itself


class AppPages:
    def __init__(self, app: AppWeb) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        get, post = self._get, self._post
        return [
            Route("/app", get(self.home), methods=["GET"]),
            Route("/app/activity", get(self.activity), methods=["GET"]),
            Route("/app/memories", get(self.memories), methods=["GET"]),
            Route("/app/memories/{memory_id}/delete", post(self.forget), methods=["POST"]),
            Route("/app/documents", get(self.documents), methods=["GET"]),
            Route("/app/documents", post(self.upload), methods=["POST"]),
            Route("/app/documents/{document_id}/delete", post(self.delete_document), methods=["POST"]),
            Route("/app/contacts", get(self.contacts), methods=["GET"]),
            Route("/app/contacts/{contact_id}", get(self.contact), methods=["GET"]),
            Route("/app/contacts/{contact_id}", post(self.save_contact), methods=["POST"]),
            Route("/app/connections", get(self.connections), methods=["GET"]),
        ]

    # -- the wrappers: who, then the page; errors become pages that say what was wrong --------------

    def _get(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(page)
        async def handle(request: Request) -> Response:
            user_id = await self.app.user_id(request)
            if user_id is None:
                return self.app.denied(request)
            return await self._answer(request, page, self.app.scope(user_id))

        return handle

    def _post(self, page: Page) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(page)
        async def handle(request: Request) -> Response:
            if request.url.path == "/app/documents" and not self._upload_fits(request):
                # Refused before the body is read: Starlette would spool any size of file to disk first.
                return self.app.message(request, "Not saved", f"file: larger than the "
                                        f"{self.app.settings.max_document_bytes} bytes a document may have",
                                        status=400, back="/app/documents")
            try:
                await self.app.form(request)
            except CsrfRefused:
                return self.app.refused(request)
            user_id = await self.app.user_id(request)
            if user_id is None:
                return self.app.denied(request)
            if self.app.read_only:
                return self.app.message(request, "Read-only", "This server is read-only: nothing can be changed "
                                        "here.", status=403)
            return await self._answer(request, page, self.app.scope(user_id))

        return handle

    def _upload_fits(self, request: Request) -> bool:
        length = request.headers.get("content-length", "")
        return length.isdigit() and int(length) <= self.app.settings.max_document_bytes + _FORM_OVERHEAD

    async def _answer(self, request: Request, page: Page, scope: UserScope) -> Response:
        try:
            return await page(request, scope)
        except NotFound:
            return self.app.message(request, "Not found", "There is nothing here: it may have been deleted.",
                                    status=404, back="/app")
        except LimitExceeded as exc:
            return self.app.message(request, "Limit reached", str(exc), status=429, back="/app/activity")
        except InvalidInput as exc:
            return self.app.message(request, "Not saved", str(exc), status=400, back=request.url.path)
        except JarvisError as exc:
            return self.app.message(request, "Not done", str(exc), status=409, back="/app")

    async def _write(self, scope: UserScope, name: str, topic: str, fn: Callable[..., Any], *args: Any,
                     audit: dict[str, object] | None = None) -> Any:
        """A change made from the page counts against the same limits as a tool call and is audited."""
        started = time.perf_counter()
        await run(functools.partial(scope.usage.admit, name, read_only=False))
        status, error = "ok", None
        try:
            result = await run(fn, *args)
        except Exception as exc:
            status, error = "error", type(exc).__name__
            raise
        finally:
            await run(scope.audit, name, audit or {}, status, error, (time.perf_counter() - started) * 1000)
        scope.changed(topic)  # the person's other open pages refresh too
        return result

    # -- pages ------------------------------------------------------------------------------------

    async def home(self, request: Request, scope: UserScope) -> Response:
        profile = await run(scope.account.profile)
        voice = await run(scope.voice_key.status)
        return self.app.render(request, "home.html", profile=profile, voice=voice, live="profile identities")

    async def activity(self, request: Request, scope: UserScope) -> Response:
        outbox = await run(scope.actions.list, 50)
        history = await run(scope.account.history, 30)
        usage = await run(scope.usage.report, 30)
        return self.app.render(request, "activity.html", outbox=outbox, audit=history.actions, usage=usage,
                               live="outbox action jobs")

    async def memories(self, request: Request, scope: UserScope) -> Response:
        query = request.query_params.get("q", "").strip()
        if query:
            found: list[Any] = (await run(functools.partial(scope.memory.search, query, 20))).hits
        else:
            found = (await run(scope.account.history, 50)).recent_memories
        return self.app.render(request, "memories.html", memories=found, query=query, live="memories")

    async def forget(self, request: Request, scope: UserScope) -> Response:
        memory_id = request.path_params["memory_id"]
        result = await self._write(scope, "app:forget", "memories", scope.memory.forget, [memory_id],
                                   audit={"memory_ids": [memory_id]})
        if memory_id in result.not_found:
            raise NotFound("memory", memory_id)
        return self.app.back_to("/app/memories")

    async def documents(self, request: Request, scope: UserScope) -> Response:
        listed = await run(functools.partial(scope.documents.list, limit=50))
        return self.app.render(request, "documents.html", listed=listed, live="documents jobs")

    async def upload(self, request: Request, scope: UserScope) -> Response:
        data, kwargs = await upload(await request.form())
        try:
            await self._write(scope, "app:add_document", "documents",
                              functools.partial(scope.documents.add_bytes, data, **kwargs), audit={"title": kwargs["title"]})
        except InvalidInput as exc:
            # The service names its argument (content); on this page that is the file field.
            raise InvalidInput("file", exc.rule) if exc.field == "content" else exc from None
        return self.app.back_to("/app/documents")

    async def delete_document(self, request: Request, scope: UserScope) -> Response:
        document_id = request.path_params["document_id"]
        await self._write(scope, "app:delete_document", "documents", scope.documents.delete, document_id,
                          audit={"document_id": document_id})
        return self.app.back_to("/app/documents")

    async def contacts(self, request: Request, scope: UserScope) -> Response:
        query = request.query_params.get("q", "").strip()
        if query:
            hits: list[Any] = (await run(functools.partial(scope.contacts.search, query, 20))).hits
        else:
            hits = (await run(scope.contacts.page, 1)).contacts
        return self.app.render(request, "contacts.html", contacts=hits, query=query, live="contacts")

    async def contact(self, request: Request, scope: UserScope, error: str | None = None,
                      status: int = 200) -> Response:
        found = await run(scope.contacts.get, request.path_params["contact_id"])
        return self.app.render(request, "contact.html", status, contact=found, error=error, live="contacts")

    async def save_contact(self, request: Request, scope: UserScope) -> Response:
        contact_id = request.path_params["contact_id"]
        await run(scope.contacts.get, contact_id)  # another person's id: 404 before anything else
        fields = contact_fields(await request.form())
        try:
            await self._write(scope, "app:save_contact", "contacts",
                              functools.partial(scope.contacts.save, contact_id, replace_lists=True, **fields),
                              audit={"contact_id": contact_id})
        except InvalidInput as exc:
            return await self.contact(request, scope, error=str(exc), status=400)
        return self.app.back_to(f"/app/contacts/{contact_id}")

    async def connections(self, request: Request, scope: UserScope) -> Response:
        google = await run(scope.credentials.load, "google") is not None
        identities = await run(scope.identities.list)
        can_connect = "google" in {m.name for m in offered(self.app.settings)}
        return self.app.render(request, "connections.html", google=google, can_connect=can_connect,
                               identities=identities.identities, live="identities")
