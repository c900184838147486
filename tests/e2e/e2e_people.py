"""A person at a real browser: signs in on the server's own pages and approves an app's access.

Every step acts on the page as a person would (fills the address, presses the buttons the page shows,
opens the link from the email) and finds elements by the ids the templates give them
(src/jarvis_mcp/identity/templates). Methods below run on the browser's thread; `authorize` is the
awaitable the SDK's redirect handler calls.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from e2e_browser import Browser
from eth_account import Account
from eth_account.messages import encode_defunct
from servers import Server

_LINK = re.compile(r"https?://\S+/signin/email/verify\?token=[\w\-.~%]+")

# An EIP-1193 wallet inside the page: every request goes to the Python side, where a real secp256k1 key signs.
_WALLET_JS = """
window.ethereum = {
  isJarvisTestWallet: true,
  request: async ({ method, params }) => window.jarvisTestWallet(method, params || []),
};
"""


# Telegram's Login Widget stands in for telegram.org's script (the browser never reaches the network): like
# the real one it shows a button where its <script> tag is and, when pressed, evaluates the tag's
# data-onauth with `user`, the fields Telegram signed with the bot's token (here signed in Python).
_TELEGRAM_WIDGET_JS = """
(function () {
  var tag = document.currentScript;
  var button = document.createElement("button");
  button.type = "button"; button.id = "telegram-login"; button.textContent = "Log in with Telegram";
  button.addEventListener("click", function () { new Function("user", tag.getAttribute("data-onauth"))(USER); });
  tag.parentNode.insertBefore(button, tag);
})();
"""
TELEGRAM_BOT_TOKEN = "7012345678:AAE-jarvis-e2e-test-token"
TELEGRAM_BOT_NAME = "jarvis_e2e_bot"


class SignInFailed(AssertionError):
    pass


class Person:
    def __init__(self, browser: Browser, server: Server, email_address: str, *, wallet_key: str | None = None) -> None:
        self.browser = browser
        self.server = server
        self.email = email_address
        self.method = "email"
        self.account = Account.from_key(wallet_key) if wallet_key else Account.create()
        self.telegram_id = str(secrets.randbelow(10**9) + 10**8)  # this person's Telegram account
        self._telegram_logins = itertools.count()
        self.links_opened: list[str] = []
        self.consents: list[tuple[str, str]] = []  # (client name, redirect host) as each consent page showed them
        self.context: Any = browser.run(self._open_context)

    # -- the browser context ---------------------------------------------------------------------

    def _open_context(self) -> Any:
        context = self.browser.new_context()
        context.expose_function("jarvisTestWallet", self._wallet_request)
        context.add_init_script(_WALLET_JS)
        context.route("https://telegram.org/**", self._telegram_widget)
        return context

    def _telegram_widget(self, route: Any) -> None:
        fields = {"id": self.telegram_id, "first_name": "Test", "username": f"user{self.telegram_id}",
                  # Each sign-in is a new authorisation at Telegram, so a new payload (a spent one is refused)
                  "auth_date": str(int(time.time()) - next(self._telegram_logins))}
        # As Telegram signs (core.telegram.org/widgets/login), written here apart from the server's checker.
        check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
        key = hashlib.sha256(TELEGRAM_BOT_TOKEN.encode()).digest()
        fields["hash"] = hmac.new(key, check.encode(), hashlib.sha256).hexdigest()
        route.fulfill(status=200, content_type="text/javascript",
                      body=_TELEGRAM_WIDGET_JS.replace("USER", json.dumps(fields)))

    def _wallet_request(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address]
        if method == "personal_sign":
            message, address = params[0], params[1]
            if address.lower() != self.account.address.lower():
                raise ValueError("personal_sign for another account")
            signed = self.account.sign_message(encode_defunct(text=message))
            return "0x" + signed.signature.hex().removeprefix("0x")
        raise ValueError(f"unsupported wallet method {method}")

    def close(self) -> None:
        self.browser.run(self.context.close)

    # -- what the SDK's redirect handler calls ---------------------------------------------------

    async def authorize(self, authorization_url: str, redirect_uri: str) -> None:
        """Open the app's authorization URL; sign in if asked, approve; return on the app's redirect URI."""
        await self.browser.arun(self.authorize_now, authorization_url, redirect_uri)

    def authorize_now(self, authorization_url: str, redirect_uri: str, *, decision: str = "approve") -> str:
        page = self.context.new_page()
        try:
            page.goto(authorization_url)
            for _ in range(6):  # sign-in page, email link, consent: a few hops at most
                if page.url.startswith(redirect_uri):
                    return page.url
                path = urlsplit(page.url).path
                if path == "/signin":
                    self._sign_in(page)
                elif path == "/consent":
                    self.consents.append((page.inner_text("#client-name"), page.inner_text("#redirect-host")))
                    with page.expect_navigation():
                        page.click(f"#{decision}")
                else:
                    raise SignInFailed(f"stuck on {page.url}: {page.inner_text('body')[:500]}")
            raise SignInFailed(f"never reached {redirect_uri}; last page {page.url}")
        finally:
            page.close()

    # -- sign-in methods on the page -------------------------------------------------------------

    def _sign_in(self, page: Any) -> None:
        if self.method == "email":
            self.sign_in_by_email(page)
        elif self.method == "wallet":
            self.sign_in_by_wallet(page)
        elif self.method == "google":
            self.sign_in_by_google(page)
        elif self.method == "telegram":
            with page.expect_navigation():
                page.click("#telegram-login")
        else:
            raise SignInFailed(f"unknown method {self.method}")

    def sign_in_by_email(self, page: Any) -> None:
        page.fill("#email", self.email)
        with page.expect_navigation():
            page.click("#email-submit")
        if not page.locator("#outbox-path").count():
            raise SignInFailed(f"no outbox path on the page: {page.inner_text('body')[:500]}")
        link = read_link(Path(page.inner_text("#outbox-path")))
        self.links_opened.append(link)
        page.goto(link)
        with page.expect_navigation():
            page.click("#confirm-signin")

    def sign_in_by_wallet(self, page: Any) -> None:
        with page.expect_navigation():
            page.click("#wallet-submit")

    def sign_in_by_google(self, page: Any) -> None:
        # Google (the fake issuer) approves at once and sends the browser back to the server's callback.
        with page.expect_navigation():
            page.click("#google-submit")
        page.wait_for_load_state()

    def link(self, method: str) -> str:
        """While signed in, link another method on /account/identities; returns the identities list's text."""
        return self.browser.run(self._link_now, method)

    def _link_now(self, method: str) -> str:
        page = self.context.new_page()
        try:
            page.goto(self.server.base + "/account/identities")
            with page.expect_navigation():
                page.click("#link-another")
            previous, self.method = self.method, method
            try:
                self._sign_in(page)
            finally:
                self.method = previous
            page.wait_for_load_state()
            if not page.locator("#identity-list").count():
                raise SignInFailed(f"linking {method} ended on {page.url}: {page.inner_text('body')[:500]}")
            return page.inner_text("#identity-list")
        finally:
            page.close()

    def unlink(self, method: str) -> str:
        """Press Unlink beside the identity of this method on /account/identities; returns the list's text."""
        return self.browser.run(self._unlink_now, method)

    def _unlink_now(self, method: str) -> str:
        page = self.context.new_page()
        try:
            page.goto(self.server.base + "/account/identities")
            with page.expect_navigation():
                page.click(f'li.identity[data-method="{method}"] button.unlink')
            if not page.locator("#notice").count():
                raise SignInFailed(f"unlinking {method} ended on {page.url}: {page.inner_text('body')[:500]}")
            return page.inner_text("#identity-list")
        finally:
            page.close()


def read_link(eml: Path) -> str:
    """The sign-in link from the message the server wrote to its outbox (decoded as a mail reader would)."""
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    found = _LINK.search(text)
    if not found:
        raise SignInFailed(f"no sign-in link in {eml}")
    return found.group(0)
