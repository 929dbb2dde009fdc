"""The one place that renders data for `-o table|json|ndjson|csv`.

Commands hand over plain dicts (one item) or an iterable of dicts (a list);
json/ndjson/csv stream lists row by row. Tables use Rich on a terminal and a
plain, fast renderer otherwise.
"""

from __future__ import annotations

import csv
import itertools
import json
import operator
import sys
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Any, TextIO

from resellctl.domain.csvfile import FORMULA_START, write_rows

FORMULA_CHARS = frozenset(FORMULA_START)


class Format(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


def neutralise(value: Any) -> Any:
    """Make a cell safe for spreadsheets: a leading = + - @ tab or CR gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def emit(data: dict | Iterable[dict], fmt: Format | str = Format.table, *,
         columns: Sequence[str] | None = None, headers: dict[str, str] | None = None,
         title: str | None = None, out: TextIO | None = None) -> None:
    """Render `data` (a dict = one item, anything else = a list) to stdout."""
    out = out or sys.stdout
    fmt = Format(fmt)
    single = isinstance(data, dict)
    if fmt is Format.json:
        _json(data, single, out)
    elif fmt is Format.ndjson:
        for row in [data] if single else data:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt is Format.csv:
        _csv([data] if single else data, columns, out)
    elif single:
        _table([{"field": k, "value": cell(v)} for k, v in data.items()],
               ["field", "value"], {"field": "", "value": ""}, title, out, show_header=False)
    else:
        rows = list(data)
        _table(rows, columns or _columns(rows), headers or {}, title, out)


def _json(data: dict | Iterable[dict], single: bool, out: TextIO) -> None:
    if single:
        out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    out.write("[")
    empty = True
    for row in data:
        out.write(("\n  " if empty else ",\n  ") + json.dumps(row, ensure_ascii=False))
        empty = False
    out.write("]\n" if empty else "\n]\n")


def _columns(rows: list[dict]) -> list[str]:
    return list(rows[0]) if rows else []


def _csv(rows: Iterable[dict], columns: Sequence[str] | None, out: TextIO) -> None:
    iterator: Iterator[dict] = iter(rows)
    first = next(iterator, None)
    names = list(columns or (first or {}).keys())
    csv.writer(out, lineterminator="\n").writerow(names)
    if first is None:
        return
    pick = _picker(names) if isinstance(first, dict) else tuple  # tuples: already in order
    write_rows(map(_csv_cells, map(pick, itertools.chain((first,), iterator))), out)


def _picker(names: list[str]):  # noqa: ANN202
    """Fast column picking (C-level itemgetter), tolerant of missing keys."""
    getter = operator.itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))

    def pick(row: dict) -> Sequence:
        try:
            return getter(row)
        except KeyError:
            return [row.get(n) for n in names]
    return pick


def _csv_cells(values: Sequence) -> list:
    """Cells for csv.writer: formula-neutralised strings; the hot path of big exports."""
    return [("'" + v if v[:1] in FORMULA_CHARS else v) if v.__class__ is str
            else ("" if v is None else (v if v.__class__ is int else neutralise(cell(v))))
            for v in values]


def _table(rows: list[dict], columns: Sequence[str], headers: dict[str, str],
           title: str | None, out: TextIO, show_header: bool = True) -> None:
    labels = [headers.get(c, c.replace("_", " ").capitalize()) for c in columns]
    if is_terminal(out) and len(rows) <= 500:
        _rich_table(rows, columns, labels, title, out, show_header)
        return
    grid = [[cell(row.get(c)) for c in columns] for row in rows]
    if show_header:
        grid.insert(0, labels)
    if title:
        out.write(title + "\n")
    if not grid:
        return
    widths = [max(len(r[i]) for r in grid) for i in range(len(columns))]
    for line in grid:
        out.write("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                  + "\n")


def _rich_table(rows: list[dict], columns: Sequence[str], labels: list[str],
                title: str | None, out: TextIO, show_header: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_header=show_header, header_style="bold")
    for label in labels:
        table.add_column(label, overflow="fold")
    for row in rows:
        table.add_row(*[cell(row.get(c)) for c in columns])
    Console(file=out, highlight=False).print(table)


def console(stderr: bool = True):  # noqa: ANN201
    """A Rich console for panels and progress (stderr by default)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
