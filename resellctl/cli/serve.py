"""`serve`: the HTTP API and the approval and support pages (HTTP.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from resellctl.cli.errors import say
from resellctl.cli.state import state

APP = "resellctl.server.app:from_environment"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8600,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    public_url: Annotated[str | None, typer.Option(
        help="The address the server announces (default http://HOST:PORT).")] = None,
) -> None:
    """Serve the /v1 API and the approval and support pages over the store.

    SIGTERM or Ctrl-C stops accepting, finishes the requests in flight (up to 10 s) and
    exits 0. One JSON line per request on stderr (never a token).

    \b
    Example: resellctl serve --host 0.0.0.0 --port 8600 --workers 4 --public-url https://api.example.com
    """
    from resellctl.store.engine import Store

    url = state(ctx).local_url("serve")
    store = Store(url)
    with store.read():  # at head, reachable: else exit 75 before anything listens
        pass
    store.dispose()
    sock = _listen(host, port)
    shown = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    os.environ["RESELLCTL_SERVE_STORE"] = url
    if state(ctx).debug:  # the workers log internal errors with their traceback
        os.environ["RESELLCTL_DEBUG"] = "1"
    os.environ["RESELLCTL_SERVE_PUBLIC_URL"] = (public_url or shown).rstrip("/")
    say(f"Listening on {shown}\n")
    _run(sock, workers)


def _listen(host: str, port: int):  # noqa: ANN202
    """The listening socket, bound here so that the line above is true when printed:
    connections made before the workers are up wait in the backlog."""
    import socket

    from resellctl.domain.errors import StoreUnavailable

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise StoreUnavailable(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                               code="cannot_listen",
                               hint="choose another --port, or stop what listens there"
                               ) from exc
    sock.set_inheritable(True)
    return sock


def _run(sock, workers: int) -> None:  # noqa: ANN001
    import uvicorn

    config = uvicorn.Config(APP, factory=True, workers=workers, access_log=False,
                            log_level="warning", timeout_graceful_shutdown=10,
                            server_header=False, proxy_headers=False)
    if workers == 1:
        with _exit_quietly():
            uvicorn.Server(config).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[sock]).run()


@contextmanager
def _exit_quietly() -> Iterator[None]:
    """uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully, to the handler
    that was in place before it ran: a no-op here, so `serve` returns and exits 0."""
    import signal

    previous = {sig: signal.signal(sig, lambda *_: None)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
