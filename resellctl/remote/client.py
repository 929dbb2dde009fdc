"""A remote profile's calls: each operation of resellctl.operations over httpx.

The request is made from the operation's row (HTTP.md): path parameters into the path,
the others into the query string, the JSON body or a header, under the keys the row
gives. Errors come back as the CLI's JSON error and are raised as a `RemoteError` that
prints the same lines and exits with the same code as the local command would.
No SQLAlchemy or SQLModel here: a remote command never imports them.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from datetime import date
from typing import IO, Any
from urllib.parse import quote

from resellctl import operations
from resellctl.domain.errors import Partial, ResellError, StoreUnavailable
from resellctl.operations import Operation

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
BACKOFF = (0.5, 1.0, 2.0)
EXIT_HEADER = "Resellctl-Exit-Code"
ERROR_HEADER = "Resellctl-Error"


class RemoteError(ResellError):
    """An error answered by the server: its code, message, hint and exit code as sent."""

    def __init__(self, body: dict) -> None:
        super().__init__(str(body.get("message", "error")), hint=body.get("hint"),
                         code=str(body.get("code", "error")), details=body.get("details"))
        self.exit_code = int(body.get("exit_code", 1))


class Remote:
    def __init__(self, url: str, token: str | None, *, transport: Any = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.transport = transport
        self._client = None

    # ------------------------------------------------------------ plumbing

    @property
    def client(self):  # noqa: ANN201
        if self._client is None:
            import httpx

            headers = {"User-Agent": "resellctl"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.Client(
                base_url=self.url, headers=headers, transport=self.transport,
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
                verify=trust())
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def request(self, op: Operation, arguments: dict, *, accept: str | None = None,
                content: Any = None, content_type: str | None = None,
                timeout: Any = "default") -> Any:
        """Send the operation's request (retried where HTTP.md allows) and return the
        httpx response, streamed: the caller reads or iterates it, then closes it."""
        import httpx

        path, params, body, headers = _parts(op, arguments)
        if accept:
            headers["Accept"] = accept
        if content_type:
            headers["Content-Type"] = content_type
        retried = op.method == "GET" or "Idempotency-Key" in headers
        attempts = len(BACKOFF) + 1 if retried and content is None else 1
        for attempt in range(attempts):
            request = self.client.build_request(
                op.method, path, params=params, headers=headers,
                json=body if content is None and body is not None else None,
                content=content, **({} if timeout == "default" else {"timeout": timeout}))
            try:
                response = self.client.send(request, stream=True)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(BACKOFF[attempt])
                    continue
                raise self.unreachable(exc) from exc
            if response.status_code == 503 and attempt + 1 < attempts:
                response.close()
                time.sleep(BACKOFF[attempt])
                continue
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def reading(self, response: Any) -> Iterator[None]:
        """Read a streamed body; a connection lost mid-body is exit 75 like an unreachable
        server (what was already written stays written: the output is incomplete)."""
        import httpx

        try:
            yield
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"the connection to {self.url} was lost while reading "
                                   f"the answer ({type(exc).__name__}); the output is "
                                   "incomplete", code="server_unreachable",
                                   hint="run the command again") from exc
        finally:
            response.close()

    def unreachable(self, exc: Exception) -> StoreUnavailable:
        why = type(exc).__name__.replace("Error", " error").replace("Timeout", "timeout")
        return StoreUnavailable(f"cannot reach the server at {self.url} ({why.strip()})",
                                code="server_unreachable",
                                hint="check the context's URL and that `resellctl serve` "
                                     "runs there")

    def checked(self, response: Any) -> Any:
        """The response, or its error raised (the body read first)."""
        if response.status_code < 400:
            return response
        response.read()
        response.close()
        if response.status_code == 503 and not _error(response):
            raise StoreUnavailable(f"the server at {self.url} is unavailable (503)",
                                   code="server_unavailable", hint="retry later")
        body = _error(response) or {"code": "http_error", "exit_code": 1,
                                    "message": f"the server answered {response.status_code}"}
        if response.status_code == 401:
            body = {**body, "hint": "create a token with `resellctl token create` and check "
                                    "the context's token (`resellctl context show`)"}
        if response.status_code == 503:
            body = {**body, "message": f"{body.get('message')} (server {self.url})"}
        raise RemoteError(body)

    # ------------------------------------------------------------ calls

    def call(self, name: str, arguments: dict) -> Any:
        """One operation; its JSON result (a list's every row, as a list)."""
        op = operations.BY_NAME[name]
        if op.paging:
            return list(self.rows(name, arguments))
        response = self.checked(self.request(op, arguments))
        try:
            response.read()
        finally:
            response.close()
        result = response.json()
        _raise_partial(response, result)
        return result

    def rows(self, name: str, arguments: dict) -> Iterator[dict]:
        """Every row of a list, streamed as JSON lines."""
        op = operations.BY_NAME[name]
        response = self.checked(self.request(op, arguments, accept="application/x-ndjson"))
        with self.reading(response):
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)

    def copy(self, name: str, arguments: dict, fmt: str, out: IO[str]) -> None:
        """A list as `-o csv` / `-o ndjson` prints it, the server's bytes to `out`."""
        op = operations.BY_NAME[name]
        accept = "text/csv" if fmt == "csv" else "application/x-ndjson"
        response = self.checked(self.request(op, arguments, accept=accept))
        with self.reading(response):
            for text in response.iter_text():
                out.write(text)

    def upload(self, name: str, arguments: dict, chunks: Any, content_type: str,
               on_failures: Any = None) -> dict:
        """A streamed upload (the import): no read timeout while bytes flow. With
        `on_failures`, the server sends the failed rows (`failed_rows`), even beside an
        error, and they are handed over as the local import hands them."""
        import httpx

        op = operations.BY_NAME[name]
        if on_failures is not None:
            arguments = {**arguments, "failed_rows": True}
        response = self.request(op, arguments, content=chunks, content_type=content_type,
                                timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT))
        if on_failures is not None and response.status_code >= 400:
            response.read()
            failed = _json(response).get("failed_rows")
            if failed is not None:
                on_failures(failed)
        response = self.checked(response)
        try:
            response.read()
        finally:
            response.close()
        result = response.json()
        failed = result.pop("failed_rows", None) if isinstance(result, dict) else None
        if on_failures is not None and failed is not None:
            on_failures(failed)
        _raise_partial(response, result)
        return result


def trust() -> Any:
    """Certificates are checked against the system's trust store (OpenSSL's default
    paths, which honour SSL_CERT_FILE and SSL_CERT_DIR), not a bundle of httpx's own."""
    import os
    import ssl

    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        from resellctl.domain.errors import Invalid

        raise Invalid(f"cannot read the certificates of SSL_CERT_FILE/SSL_CERT_DIR "
                      f"({cafile or capath}): {exc}", code="invalid_certificates",
                      hint="point SSL_CERT_FILE at a PEM file of CA certificates") from exc


def _json(response: Any) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(response: Any) -> dict | None:
    error = _json(response).get("error")
    return error if isinstance(error, dict) else None


def _raise_partial(response: Any, result: Any) -> None:
    """Exit 9 (a partial import, drift found) comes as a 200 with the result and, beside
    its keys, the error (`error`, its details included); the `Resellctl-Error` header
    only summarises it (an older server sent it whole there)."""
    if response.headers.get(EXIT_HEADER) != "9":
        return
    error = result.pop("error", None) if isinstance(result, dict) else None
    if not isinstance(error, dict):
        try:
            error = json.loads(response.headers.get(ERROR_HEADER) or "{}").get("error", {})
        except (ValueError, AttributeError):
            error = {}
    raise Partial(error.get("message", "partly done"), result=result, hint=error.get("hint"),
                  code=error.get("code"), details=error.get("details"))


def _wire(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _parts(op: Operation, arguments: dict) -> tuple[str, dict, dict | None, dict]:
    """The path, query parameters, JSON body and headers of an operation's request."""
    path, params, body, headers = op.path, {}, {}, {}
    for param in op.params:
        value = arguments.get(param.name)
        if param.where == "path":
            path = path.replace("{" + param.key + "}", quote(str(value), safe=""))
        elif value is None or value == [] and param.where == "query":
            continue
        elif param.where == "query":
            params[param.key] = ([_wire(v) for v in value] if isinstance(value, list)
                                 else _wire(value))
        elif param.where == "header":
            headers[param.key] = str(value)
        elif param.where == "fields":
            body.update({k: v for k, v in value.items() if v is not None})
        else:
            body[param.key] = value.isoformat() if isinstance(value, date) else value
    for key in ("limit", "offset"):
        if op.paging and arguments.get(key) is not None and not any(
                p.name == key for p in op.params):
            params[key] = arguments[key]
    has_body = any(p.where in ("body", "fields") for p in op.params)
    return path, params, (body if has_body else None), headers
