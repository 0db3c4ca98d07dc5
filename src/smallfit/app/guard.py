"""What keeps the app's local server for its user alone.

- Host: every request must name the server by the address it listens on (127.0.0.1,
  localhost or the `--host` given), so a web page whose own name was re-pointed at this
  machine (DNS rebinding) is refused.
- Origin: a request that changes something (POST, PUT, PATCH, DELETE) from a browser
  must come from the app's own page: a page on another site cannot drive the app by a
  cross-site form or fetch. Clients that are not browsers send no Origin and pass.
- Token: bound beyond the loopback (`--host`), every request must carry the token printed
  at start, as `Authorization: Bearer TOKEN`, or the cookie the page gets by opening
  `/?token=TOKEN` once.
- Size: a body declared larger than the limit is refused before it is read.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie

from starlette.datastructures import Headers, QueryParams
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
COOKIE = "smallfit_token"


class Guard:
    """ASGI middleware applying the rules above to every HTTP request."""

    def __init__(
        self, app: ASGIApp, hosts: set[str], token: str | None, max_body_bytes: int
    ) -> None:
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.token = token
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, detail = refusal
            await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
            return
        query = QueryParams(scope.get("query_string", b"").decode())
        if self.token and query.get("token") and scope["path"] == "/":
            # the link printed at start: keep the token in a cookie, drop it from the URL
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(COOKIE, query["token"], httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers) -> tuple[int, str] | None:
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return 421, f"This server answers to {', '.join(sorted(self.hosts))}, not {host!r}."
        origin = headers.get("origin")
        if scope["method"] in CHANGES and origin is not None:
            if origin.lower() not in {f"http://{h}" for h in self.hosts}:
                return 403, f"Requests that change something are refused from {origin}."
        if self.token and not self._has_token(scope, headers):
            return 401, "This server needs its token: open the link it printed at start."
        size = headers.get("content-length", "")
        if size.isdigit() and int(size) > self.max_body_bytes:
            return 413, (
                f"The request has {int(size):,} bytes; the app takes at most "
                f"{self.max_body_bytes:,} per request. Send fewer or smaller files at once."
            )
        return None

    def _has_token(self, scope: Scope, headers: Headers) -> bool:
        given = ""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        elif COOKIE in (cookies := SimpleCookie(headers.get("cookie", ""))):
            given = cookies[COOKIE].value
        elif scope["path"] == "/":
            given = QueryParams(scope.get("query_string", b"").decode()).get("token", "")
        return bool(given) and hmac.compare_digest(given, self.token)
