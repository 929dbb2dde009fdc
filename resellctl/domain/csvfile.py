"""CSV as resellctl writes it: "\n" line ends, spreadsheet-safe cells, chunked writes.

Used by every `-o csv` (through cli/output.py), by the portfolio export and by
`client import --errors-out`. No third-party imports: `--help` stays fast.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Sequence
from typing import TextIO

# A cell starting with one of these is a formula to a spreadsheet: it gets a leading quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 1000


def write_rows(rows: Iterable[Sequence], out: TextIO) -> None:
    """Write rows of ready cells (str, int or None), a chunk at a time (csv.writer in C)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(chunk)
        text = buffer.getvalue()
        if "\r" in text:
            _with_carriage_returns(chunk, out)
        else:
            out.write(text)


def _with_carriage_returns(chunk: list[Sequence], out: TextIO) -> None:
    """With "\n" line ends csv.writer leaves a lone CR unquoted, and readers take it for a
    line break: a row holding one is written fully quoted (the rare, slow path)."""
    plain = csv.writer(out, lineterminator="\n").writerow
    quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow
    for cells in chunk:
        (quoted if any("\r" in v for v in cells if v.__class__ is str) else plain)(cells)
