"""The one place that turns domain errors into messages and exit codes."""

from __future__ import annotations

import json
import os
import sys

from resellctl.domain import errors as e

EXIT_CODES: dict[type[e.ResellError], int] = {
    e.UsageError: 2,
    e.NotFound: 3,
    e.Conflict: 4,
    e.Invalid: 5,
    e.Denied: 6,
    e.Insufficient: 7,
    e.Partial: 9,
    e.StoreUnavailable: 75,
}
INTERNAL = 1


def exit_code(error: e.ResellError) -> int:
    sent = getattr(error, "exit_code", None)  # an error a server answered (remote profile)
    if isinstance(sent, int):
        return sent
    for kind, code in EXIT_CODES.items():
        if isinstance(error, kind):
            return code
    return INTERNAL


def error_body(error: e.ResellError) -> dict:
    """The JSON error of `-o json` and of the API: `{"error": {code, message, ...}}`."""
    body: dict = {"code": error.code, "message": error.message, "exit_code": exit_code(error)}
    if error.hint:
        body["hint"] = error.hint
    if error.details:
        body["details"] = error.details
    return {"error": body}


def report(error: e.ResellError, *, as_json: bool) -> int:
    """Print the error on stderr (text or a JSON object); return its exit code."""
    code = exit_code(error)
    if as_json:
        say(json.dumps(error_body(error), ensure_ascii=False) + "\n")
        return code
    lines = [f"Error: {error.message}\n"]
    lines += [f"  {_detail_line(detail)}\n" for detail in error.details[:50]]
    if len(error.details) > 50:
        lines.append(f"  ... and {len(error.details) - 50} more\n")
    if error.hint:
        lines.append(f"Hint: {error.hint}\n")
    say("".join(lines))
    return code


def report_internal(exc: BaseException, *, as_json: bool) -> int:
    message = f"internal error: {type(exc).__name__}: {exc}".splitlines()[0]
    if as_json:
        say(json.dumps({"error": {"code": "internal", "message": message,
                                  "exit_code": INTERNAL}}) + "\n")
    else:
        say(f"Error: {message} (rerun with --debug to see the traceback, and please "
            "report it)\n")
    return INTERNAL


def say(text: str) -> None:
    """Write to stderr; if nobody reads it any more (a closed pipe), carry on quietly:
    the exit code still tells what happened."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except BrokenPipeError:
        silence(sys.stderr)


def silence(stream: object) -> None:
    """Point a closed stream's file descriptor at /dev/null, so that later writes and the
    interpreter's last flush cannot fail (and print a warning) on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind the stream
        pass


def _detail_line(detail: object) -> str:
    if isinstance(detail, dict):
        where = ", ".join(f"{k} {detail[k]}" for k in ("row", "column") if detail.get(k))
        return f"{where}: {detail.get('message', '')}" if where else str(detail.get("message"))
    return str(detail)
