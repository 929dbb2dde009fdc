"""The approval page in a real headless Chromium (Debian's, /usr/bin/chromium) against a
real `resellctl serve`, on SQLite and PostgreSQL: a client admin opens the link that
`approval create` printed, sees the client's name, types the e-mail, clicks Approve and
sees "Approved"; the client has moved to the new reseller. The page loads with no
console error, under a CSP of `default-src 'self'` and `frame-ancestors 'none'`
without `unsafe-inline` (HTTP.md, "Pages a person opens").

Without Chromium the test skips with the reason; under CI=true it fails instead (as a
missing PostgreSQL does, tests/conftest.py). `.ci/run` installs it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import ADMIN
from helpers import ok
from test_serve_process import Server, free_port

CHROMIUM = "/usr/bin/chromium"
PNG = b"\x89PNG\r\n\x1a\n"


def require_chromium() -> str:
    path = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
    if path:
        return path
    reason = (f"Chromium not found at {CHROMIUM}: install Debian's "
              "(`apt-get install -y --no-install-recommends chromium`)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


def test_a_client_admin_approves_in_a_browser(run, store_url: str,  # noqa: ANN001
                                              tmp_path: Path) -> None:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ok(run("settings", "set", "approval_base_url", f"{base}/approve", "-o", "json"))
    for slug, name in (("a", "Alpha Resale"), ("b", "Beta Resale")):
        ok(run("reseller", "create", "--slug", slug, "--name", name, "--owner", ADMIN,
               "--licenses", "2", "-o", "json"))
    client = ok(run("client", "create", "-r", "a", "--name", "Bäckerei Müller & Söhne",
                    "--owner-name", "Li", "--owner-email", ADMIN, "-o", "json"))
    approval = ok(run("approval", "create", client["uid"], "-r", "b", "-o", "json"))
    assert approval["url"].startswith(f"{base}/approve/"), approval

    server = Server(store_url, tmp_path, port=port)
    try:
        server.wait_listening()
        problems: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                                 args=["--no-sandbox"])
            try:
                page = browser.new_page()
                page.on("console", lambda msg: problems.append(f"console {msg.type}: "
                                                               f"{msg.text}")
                        if msg.type == "error" else None)
                page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
                page.on("requestfailed", lambda req: problems.append(
                    f"request failed: {req.url} {req.failure}"))
                page.on("response", lambda resp: problems.append(
                    f"HTTP {resp.status}: {resp.request.method} {resp.url}")
                        if resp.status >= 400 else None)
                response = page.goto(approval["url"], timeout=30_000)
                assert response is not None and response.status == 200
                csp = response.headers.get("content-security-policy", "")
                directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";")
                              if d.strip()}
                assert directives.get("default-src") == "default-src 'self'", csp
                assert directives.get("frame-ancestors") == "frame-ancestors 'none'", csp
                assert "unsafe-inline" not in csp, csp
                assert response.headers.get("cache-control") == "no-store"

                assert page.locator("#client-name").inner_text() == client["name"]
                assert "Beta Resale" in page.locator("h1").inner_text()
                page.fill("#admin_email", ADMIN)
                page.click("button[value=approve]")
                page.wait_for_load_state()
                assert page.locator("#result").inner_text(timeout=15_000) == "Approved"
                assert page.url == approval["url"]  # the form posts to the same path
                shot = tmp_path / "approved.png"
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        assert server.stop() == 0, server.stderr
    logged = [(e["method"], e["path"], e["status"]) for e in server.log_lines()]
    assert problems == [], (problems, logged)
    assert shot.exists() and shot.read_bytes()[:8] == PNG
    assert ok(run("client", "show", client["uid"], "-o", "json"))["reseller"] == "b"
    assert ok(run("approval", "show", approval["id"], "-o", "json"))["status"] == "approved"
    assert ("GET", "/approve/{token}", 200) in logged and (
        "POST", "/approve/{token}", 200) in logged, logged
    assert approval["url"].rsplit("/", 1)[1] not in server.stderr
