"""The pages a person opens: `/approve/{token}` and `/support/{token}` (HTTP.md).

GET shows and never changes anything (mail scanners and chat previews fetch links);
POST decides or redeems, through the same domain services as `approval accept|reject`
and `support redeem`. The token in the path is the capability: an unknown, used,
expired or revoked link answers its page before any other check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from resellctl.domain.context import Ctx
from resellctl.domain.errors import (
    Conflict,
    Denied,
    Insufficient,
    NotFound,
    ResellError,
    StoreUnavailable,
)
from resellctl.store.engine import Store

HERE = Path(__file__).parent
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # default-src 'self'; images may also come over https (a reseller's logo, https-only
    # by the branding rules); no script at all, no inline style, no framing
    "Content-Security-Policy": "default-src 'self'; img-src 'self' https:; "
                               "script-src 'none'; style-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
}
USED = {"approved": "has already been used: the client was attached",
        "rejected": "has already been used: the request was rejected",
        "expired": "has expired", "revoked": "was revoked by the reseller"}
SESSION_USED = {"redeemed": "has already been used", "ended": "was ended",
                "expired": "has expired"}


def _environment():  # noqa: ANN202
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(HERE / "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def install(app: FastAPI, store: Store) -> None:
    pages = _Pages(store, _environment())
    for route, handler in (("/approve/{token}", pages.approve_page),
                           ("/support/{token}", pages.support_page)):
        app.add_api_route(route, handler, methods=["GET", "POST"], include_in_schema=False)
    app.add_api_route("/static/style.css", _stylesheet, methods=["GET"],
                      include_in_schema=False)
    app.add_api_route("/branding/{token}.css", pages.branding_css, methods=["GET"],
                      include_in_schema=False)
    app.add_api_route("/favicon.ico", _no_favicon, methods=["GET"], include_in_schema=False)


def _stylesheet() -> Response:
    return Response((HERE / "static" / "style.css").read_text(), media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})


def _no_favicon() -> Response:
    """Browsers fetch /favicon.ico for every page: no icon, but no 404 (a console error)."""
    return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})


class _Pages:
    def __init__(self, store: Store, env: Any) -> None:
        self.ctx = Ctx(store=store, actor=None)  # the link is the capability, not a user
        self.env = env

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(**values)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def message(self, status: int, title: str, text: str, **values: Any) -> HTMLResponse:
        return self.render("message.html", status, title=title, text=text, **values)

    def unknown(self, what: str) -> HTMLResponse:
        return self.message(404, "Link not valid",
                            f"This {what} link is not valid. Check that the whole link was "
                            "copied, or ask whoever sent it for a new one.")

    # ------------------------------------------------------------ approvals

    async def approve_page(self, request: Request, token: str) -> Response:
        from starlette.concurrency import run_in_threadpool

        form = await _form(request) if request.method == "POST" else {}
        return await run_in_threadpool(self._available, request, self._approve,
                                       request.method, token, form)

    def _approve(self, method: str, token: str, form: dict) -> Response:
        from resellctl.domain import approvals

        try:
            approval = approvals.preview(self.ctx, token)
        except NotFound:
            return self.unknown("approval")
        if approval["status"] != "pending":
            return self._approval_closed(approval, token)
        if method == "GET":
            return self.render("approve.html", approval=approval, token=token)
        decision = form.get("decision")
        if decision not in ("approve", "reject"):
            return self.render("approve.html", 400, approval=approval, token=token,
                               error="Choose Approve or Reject.")
        email = form.get("admin_email", "")
        try:
            result = approvals.decide(self.ctx, token, email, decision == "approve")
        except Denied:
            return self.render("approve.html", 403, approval=approval, token=token,
                               email=email, error="This e-mail is not the admin of "
                               f"{approval['client_name']}. The request is still open.")
        except (Insufficient, Conflict) as error:
            closed = _reread(approvals.preview, self.ctx, token)
            if closed is not None and closed["status"] != "pending":
                return self._approval_closed(closed, token)
            return self.render("approve.html", 409, approval=approval, token=token,
                               email=email, error=_cannot_attach(error, approval))
        return self.render("approve_done.html", approval={**approval, **result}, token=token)

    def _approval_closed(self, approval: dict, token: str) -> HTMLResponse:
        return self.message(409, f"Link {approval['status']}",
                            f"This approval link {USED[approval['status']]}.",
                            branding=approval["branding"], token=token)

    # ------------------------------------------------------------ support sessions

    async def support_page(self, request: Request, token: str) -> Response:
        from starlette.concurrency import run_in_threadpool

        wants_json = "application/json" in request.headers.get("accept", "")
        return await run_in_threadpool(self._available, request, self._support,
                                       request.method, token, wants_json)

    def _available(self, request: Request, page: Any, *args: Any) -> Response:
        """The page, or with the store down an HTML 503 that says so and no more: its URL
        and the driver's text go to the server log only."""
        from resellctl.server.errors import EXIT_HEADER, unavailable

        try:
            return page(*args)
        except StoreUnavailable as error:
            hidden = unavailable(error, request.url.path)
            if page == self._support and request.method == "POST" and args[-1]:
                from resellctl.cli.errors import error_body

                return JSONResponse(error_body(hidden), 503,
                                    headers={**HEADERS, EXIT_HEADER: "75"})
            return self.message(503, "Temporarily unavailable",
                                "This page cannot be shown right now. Please try again "
                                "in a few minutes.")

    def _support(self, method: str, token: str, wants_json: bool) -> Response:
        from resellctl.cli.errors import error_body
        from resellctl.domain import support

        try:
            session = support.preview(self.ctx, token)
        except NotFound as error:
            if wants_json and method == "POST":
                return JSONResponse(error_body(error), 404, headers=HEADERS)
            return self.unknown("support")
        if method == "GET" and session["status"] == "active":
            return self.render("support.html", session=session, token=token)
        if method == "GET":
            return self._session_closed(session, token)
        try:
            redeemed = support.redeem(self.ctx, token)
        except ResellError as error:
            if wants_json:
                return JSONResponse(error_body(error), 409, headers=HEADERS)
            again = _reread(support.preview, self.ctx, token) or session
            return self._session_closed(again, token)
        if wants_json:
            return JSONResponse(redeemed, headers=HEADERS)
        return self.render("session.html", session={**session, **redeemed}, token=token)

    def _session_closed(self, session: dict, token: str) -> HTMLResponse:
        status = session["status"]
        return self.message(409, f"Session {status}",
                            f"This support link {SESSION_USED.get(status, 'is closed')}.",
                            branding=session["branding"], token=token)

    # ------------------------------------------------------------ branding

    def branding_css(self, token: str) -> Response:
        """The colours of the link's reseller as CSS variables (no inline style); none
        when the store is down."""
        from resellctl.domain import approvals, support

        branding: dict = {}
        for preview in (approvals.preview, support.preview):
            try:
                found = _reread(preview, self.ctx, token)
            except StoreUnavailable:
                break
            if found is not None:
                branding = found["branding"]
                break
        lines = [f"  --{key.split('_')[0]}: {branding[key]};"
                 for key in ("primary_color", "secondary_color") if branding.get(key)]
        return Response(":root {\n" + "\n".join(lines) + "\n}\n", media_type="text/css",
                        headers=HEADERS)


def _reread(preview: Any, ctx: Ctx, token: str) -> dict | None:
    try:
        return preview(ctx, token)
    except NotFound:
        return None


def _cannot_attach(error: ResellError, approval: dict) -> str:
    if isinstance(error, Insufficient):
        return (f"{approval['reseller_name']} has no free licence right now. The request is "
                "still open: try again later.")
    return f"The request cannot be completed now ({error.message}). It is still open."


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form (the pages' only kind): the first value of each field."""
    raw = (await request.body())[:65536].decode("utf-8", errors="replace")
    return {key: values[0] for key, values in parse_qs(raw).items()}
