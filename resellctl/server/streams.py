"""Bodies that stream: lists as CSV or JSON lines (`Accept`), and the import's upload.

A listed service's rows are formatted by the CLI's own renderer (cli/output.emit, the
bytes of `-o csv` / `-o ndjson`, formula neutralisation included) in one thread, which
hands the text over in chunks; the response sends them as they come. The import reads
the request body as the CLI reads a file, while it arrives.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from resellctl.domain.context import Ctx
from resellctl.domain.errors import Invalid, Partial, ResellError
from resellctl.operations import Operation

MEDIA = {"text/csv": "csv", "application/x-ndjson": "ndjson"}
CHUNK = 64 * 1024
DONE = object()


def wanted(request: Request) -> str | None:
    """`csv` or `ndjson` when the Accept header asks for one of them."""
    accept = request.headers.get("accept", "")
    for media, fmt in MEDIA.items():
        if media in accept:
            return fmt
    return None


def listing(rows_of: Any, op: Operation, fmt: str, export: Any = None) -> StreamingResponse:
    """Every matching row (no page), rendered as the CLI renders it: by `export(out)`
    when the command has a dedicated csv export (formatted by the database), else by
    cli/output.emit. The first chunk is awaited before the response starts, so that an
    error (not found, denied) is still a JSON error with its status."""
    from resellctl.cli.output import emit

    handover: queue.Queue = queue.Queue(maxsize=16)
    out = _Chunks(handover)
    rows = None if export else rows_of()  # a service's checks run here, in this thread

    def produce() -> None:
        try:
            if export:
                export(out)
            else:
                emit(rows, fmt, columns=list(op.columns) if op.columns else None, out=out)
            out.flush()
        except _Closed:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the response
            handover.put(exc)
            return
        handover.put(DONE)

    threading.Thread(target=produce, daemon=True, name=f"stream {op.name}").start()
    first = handover.get()
    if isinstance(first, BaseException):
        raise first
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return StreamingResponse(_drain(first, handover, out), media_type=media)


def _drain(first: Any, handover: queue.Queue, out: _Chunks) -> Iterator[bytes]:
    try:
        item = first
        while item is not DONE:
            if isinstance(item, BaseException):
                raise item
            yield item
            item = handover.get()
    finally:
        out.closed_by_reader = True


class _Closed(Exception):
    pass


class _Chunks(io.TextIOBase):
    """A text stream whose writes reach the response in chunks of about 64 KiB."""

    def __init__(self, handover: queue.Queue) -> None:
        self.handover, self.parts, self.size = handover, [], 0
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        self.parts.append(text)
        self.size += len(text)
        if self.size >= CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self.parts:
            if self.closed_by_reader:
                raise _Closed
            self.handover.put("".join(self.parts).encode())
            self.parts, self.size = [], 0


async def import_body(request: Request, ctx: Ctx, arguments: dict) -> JSONResponse:
    """Run the import in a worker thread over the body as it arrives."""
    from anyio import to_thread

    from resellctl.domain import importer

    json_lines = any(kind in request.headers.get("content-type", "")
                     for kind in ("ndjson", "jsonl", "json-lines"))
    body = _Body(request)
    options = importer.Options(source=arguments["source"], dry_run=arguments["dry_run"],
                               on_existing=arguments["on_existing"],
                               continue_on_error=arguments["continue_on_error"])

    failed: list[dict] | None = [] if arguments.get("failed_rows") else None

    def run() -> dict:
        text = io.TextIOWrapper(io.BufferedReader(body, CHUNK), encoding="utf-8-sig",
                                newline="")
        reader = importer.read_ndjson if json_lines else importer.read_csv
        try:
            return importer.import_clients(
                ctx, reader(text), arguments["reseller"], options,
                on_failures=failed.extend if failed is not None else None)
        except UnicodeDecodeError as exc:
            raise Invalid(f"the request body is not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})", code="invalid_encoding",
                          hint="send the file as UTF-8") from exc

    from resellctl.server import errors

    extra = {"failed_rows": failed} if failed is not None else {}
    try:
        result = await to_thread.run_sync(run)
    except Partial as partial:
        partial.result = {**partial.result, **extra}
        return errors.partial(partial)
    except ResellError as error:
        if not extra:
            raise
        return errors.answer(error, extra)  # `failed_rows=true`: the rows beside the error
    return JSONResponse({**result, **extra})


class _Body(io.RawIOBase):
    """The request body as a file, read in a worker thread from the event loop's stream."""

    def __init__(self, request: Request) -> None:
        self.chunks = request.stream().__aiter__()
        self.pending, self.ended = b"", False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from anyio import from_thread

        while not self.pending and not self.ended:
            try:
                self.pending = from_thread.run(self.chunks.__anext__)
            except StopAsyncIteration:
                self.ended = True
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size
