"""The one place that renders data for `-o table|json|ndjson|csv`.

Commands hand over plain dicts (one item) or an iterable of dicts (a list);
json/ndjson/csv stream lists row by row with the keys and cents of CLI.md.

Tables are for people (CLI.md): each column has a *kind* (money, count,
identifier, text, yes/no, On/Off, instant, date) that decides how its cells
read — `$1,234.50`, `yes`, `2026-12-03 06:44` — and how the column behaves
when the terminal is narrow: text shrinks with an ellipsis, identifiers
(uids, slugs, e-mails) never break. A command declares its table columns as
keys or `Col`s; kinds and labels come from the key's name unless given.
"""

from __future__ import annotations

import csv
import itertools
import json
import operator
import os
import shutil
import sys
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from resellctl.domain.csvfile import FORMULA_START, write_rows

FORMULA_CHARS = frozenset(FORMULA_START)
GAP = "  "
MIN_SHRUNK = 8  # a shrinkable column keeps at least this many cells (or its header's)


class Format(StrEnum):
    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


class Whole(str):
    """A line of a cell that never shrinks (an identifier inside a text column)."""


@dataclass(frozen=True)
class Col:
    """A table column: the row key, its header, its kind, and how to get its cell.

    `kind` is one of text, ident, money, count, bool, onoff, instant, date or auto
    (decided by the value); `get` builds the cell from the whole row (a str, or a
    list of lines); `optional` columns are dropped, rightmost first, when a terminal
    is too narrow for them.
    """

    key: str
    label: str | None = None
    kind: str | None = None
    get: Callable[[dict], Any] | None = None
    optional: bool = False


# --- words ----------------------------------------------------------------------------

LABELS = {
    "uid": "UID", "email": "E-mail", "is_super_admin": "Super admin", "is_owner": "Owner",
    "license_count": "Licences", "license_used": "Licences used",
    "license_available": "Licences free", "client_count": "Clients",
    "partner_supported": "Partner support", "unit_cents": "Unit price",
    "total_cents": "Total", "tier_min": "Tier from", "next_tier_min": "Next tier from",
    "next_tier_total_cents": "Next tier total", "database_url": "Store", "db": "Store",
    "seats_allocated": "Seats allocated", "entry_kind": "Entry",
    "entry_amount_cents": "Amount", "entry_id": "Entry ID", "custom": "Custom price",
    "period_cents": "Period price", "mrr_cents": "MRR", "current_period_end": "Period ends",
    "next_period_cents": "Next period price", "next_unit_cents": "Next unit price",
    "next_tier_unit_cents": "Next tier unit price", "change_at_renewal": "Change at renewal",
}
WORDS = {"uid": "UID", "id": "ID", "url": "URL", "email": "e-mail", "mrr": "MRR",
         "arr": "ARR", "ttl": "TTL", "license": "licence", "licenses": "licences"}
ONOFF = frozenset({"support_access"})
IDENT_KEYS = frozenset({"slug", "reseller", "code", "actor", "profile", "plan", "action",
                        "entity_id", "name_key", "client"})


def label(key: str) -> str:
    """A key as a header: `balance_cents` → Balance, `is_active` → Active."""
    if key in LABELS:
        return LABELS[key]
    words = key.removeprefix("is_").removesuffix("_cents").removesuffix("_at").split("_")
    text = " ".join(WORDS.get(w, w) for w in words)
    return text[:1].upper() + text[1:]


def kind_of(key: str) -> str:
    if key.endswith("_cents"):
        return "money"
    if key in ONOFF:
        return "onoff"
    if key.endswith("_at") or key == "at":
        return "instant"
    if (key in IDENT_KEYS or key in ("id", "uid") or key.endswith(("_id", "email", "_url", "uid"))):
        return "ident"
    return "auto"


# --- values ---------------------------------------------------------------------------

_currency_source: Callable[[], str] | None = None
_currency_cache: dict[str, str] = {}


def use_currency(source: Callable[[], str] | None) -> None:
    """Where amounts without a `currency` of their own take it from (the store's
    `currency` setting, asked at most once); None forgets it."""
    global _currency_source
    _currency_source = source
    _currency_cache.clear()


def default_currency() -> str:
    if "value" not in _currency_cache:
        _currency_cache["value"] = _currency_source() if _currency_source else "USD"
    return _currency_cache["value"]


def money(cents: Any, currency: str | None = None) -> str:
    from resellctl.domain.money import format_cents

    if cents is None:
        return ""
    return format_cents(int(cents), currency or default_currency())


def instant(value: Any, *, seconds: bool = False) -> str:
    """`2026-12-03T06:44:37Z` → `2026-12-03 06:44` (UTC, as stored)."""
    if not value:
        return ""
    text = str(value).replace("T", " ").removesuffix("Z")
    return text[:19] + " UTC" if seconds else text[:16]


def tiers(rows: Sequence[dict], currency: str | None = None) -> str:
    """`[{min: 1, unit_cents: 1500}, {min: 50, ...}]` → `1+ $15.00 · 50+ $12.00`."""
    return " · ".join(f"{t['min']}+ {money(t['unit_cents'], currency)}" for t in rows)


def _prices(value: dict, currency: str | None) -> str:
    return "\n".join(f"{interval}: {tiers(rows, currency)}" for interval, rows in value.items())


def _memberships(value: list, currency: str | None) -> str:
    """`acme (admin), beta (viewer, inactive)`."""
    return ", ".join(f"{m['slug']} ({m['role']}"
                     + (")" if m.get("is_active", True) else ", inactive)")
                     for m in value) or "none"


def scalar(key: str, value: Any, currency: str | None = None) -> str:
    """One value inside a nested one (an audit change, a generic dict)."""
    if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return money(value, currency)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "On" if key in ONOFF and value else ("Off" if key in ONOFF else
                                                     ("yes" if value else "no"))
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def changes(value: dict, currency: str | None = None, *, entity: str | None = None) -> str:
    """An audit event's `changes` as lines: `stage: lead → trial`; a creation's
    fields on one line (without the `entity` id it is about); extra facts
    (`quantity: 2`) after them."""
    before, after = value.get("before") or {}, value.get("after") or {}
    lines = []
    if before and after:
        for key in [*before, *(k for k in after if k not in before)]:
            if before.get(key) != after.get(key):
                lines.append(f"{_key_words(key)}: {scalar(key, before.get(key), currency)} → "
                             f"{scalar(key, after.get(key), currency)}")
    elif after or before:
        fields = after or before
        lines.append(("" if after else "removed: ") + ", ".join(
            f"{_key_words(k)} {scalar(k, v, currency)}" for k, v in fields.items()
            if v != entity))
    lines += [f"{_key_words(k)}: {scalar(k, v, currency)}" for k, v in value.items()
              if k not in ("before", "after") and v not in (None, [], {})]
    return "\n".join(lines)


def _key_words(key: str) -> str:
    """A key inside a sentence: `seats_used` → seats used, `logo_url` → logo URL."""
    words = label(key)
    return words if words[:2].isupper() else words[:1].lower() + words[1:]


def nested(key: str, value: Any, currency: str | None = None) -> str:
    if key in NESTED:
        return NESTED[key](value, currency)
    if isinstance(value, dict):
        return "\n".join(f"{_key_words(k)}: {scalar(k, v, currency)}" for k, v in value.items())
    if value and all(isinstance(v, dict) for v in value):
        return "\n".join(", ".join(f"{_key_words(k)} {scalar(k, v, currency)}"
                                   for k, v in item.items()) for item in value)
    return ", ".join(scalar(key, v, currency) for v in value)


NESTED: dict[str, Callable[[Any, str | None], str]] = {
    "prices": _prices, "license_tiers": tiers, "resellers": _memberships, "changes": changes,
}


def human(key: str, value: Any, kind: str | None = None, *, currency: str | None = None,
          detail: bool = False) -> str:
    """A value as a person reads it in a table (`detail`: in a show view)."""
    kind = kind or kind_of(key)
    if value is None:
        return ""
    if kind == "money":
        return money(value, currency)
    if kind == "instant":
        return instant(value, seconds=detail)
    if kind == "date":
        return str(value)[:10]
    if kind == "onoff" or (kind != "bool" and key in ONOFF):
        return "On" if value else "Off"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and kind not in ("ident",):
        return f"{value:,}" if kind == "count" or abs(value) >= 10_000 else str(value)
    if isinstance(value, dict | list):
        return nested(key, value, currency)
    return str(value)


def cell(value: Any) -> str:
    """A value as a csv cell (machine form: true/false, JSON for nested values)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def neutralise(value: Any) -> Any:
    """Make a cell safe for spreadsheets: a leading = + - @ tab or CR gets a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


# --- the emitter ----------------------------------------------------------------------


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def emit(data: dict | Iterable[dict], fmt: Format | str = Format.table, *,
         columns: Sequence[str] | None = None, table: Sequence[str | Col] | None = None,
         headers: dict[str, str] | None = None, title: str | None = None,
         currency: str | None = None, out: TextIO | None = None) -> None:
    """Render `data` (a dict = one item, anything else = a list) to stdout.

    `columns` are the keys of csv (and of a table unless `table` is given);
    `table` the columns a person scans, as keys or `Col`s.
    """
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
        _detail(data, table, headers or {}, title, currency, out)
    else:
        rows = list(data)
        specs = table or columns or (list(rows[0]) if rows else [])
        _table(rows, [_col(c, headers or {}) for c in specs], title, currency, out)


def _col(spec: str | Col, headers: dict[str, str]) -> Col:
    """A column with its label and kind filled in (a computed column is text unless
    it says otherwise)."""
    if isinstance(spec, str):  # a timestamp named by key alone gives way first
        kind = kind_of(spec)
        return Col(spec, headers.get(spec) or label(spec), kind, optional=kind == "instant")
    kind = spec.kind or ("text" if spec.get else kind_of(spec.key))
    return Col(spec.key, spec.label or headers.get(spec.key) or label(spec.key), kind,
               spec.get, spec.optional)


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


# --- the table renderer ---------------------------------------------------------------


def width(text: str) -> int:
    """Terminal cells a line takes (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def clip(text: str, cells: int) -> str:
    """`text` cut to `cells` with an ellipsis when it is longer."""
    if width(text) <= cells:
        return text
    kept, used = [], 0
    for char in text:
        used += width(char)
        if used > cells - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def terminal_width(out: TextIO) -> int | None:
    """The width to fit on a terminal; None (no limit) when stdout is not one."""
    if not is_terminal(out):
        return None
    return shutil.get_terminal_size((80, 24)).columns


def _bold(text: str, out: TextIO) -> str:
    if is_terminal(out) and not os.environ.get("NO_COLOR"):
        return f"\x1b[1m{text}\x1b[0m"
    return text


def _cells(row: dict, col: Col, currency: str | None) -> list[str]:
    value = col.get(row) if col.get else row.get(col.key)
    if isinstance(value, list) and col.get:
        return [line for line in value if line is not None] or [""]
    text = human(col.key, value, col.kind, currency=row.get("currency") or currency)
    return text.split("\n") if "\n" in text else [text]


def _numbers(rows: list[dict], col: Col) -> Col:
    """An `auto` column whose values are all whole numbers is a count (right-aligned)."""
    values = [row.get(col.key) for row in rows]
    if col.kind == "auto" and any(v is not None for v in values) and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
        return Col(col.key, col.label, "count", col.get, col.optional)
    return col


def _table(rows: list[dict], cols: list[Col], title: str | None, currency: str | None,
           out: TextIO) -> None:
    cols = [_numbers(rows, c) for c in cols]
    grid = [[_cells(row, c, currency) for c in cols] for row in rows]
    heads = [c.label.split("\n") for c in cols]
    natural = [max(width(line) for cell in [heads[i], *(r[i] for r in grid)] for line in cell)
               for i in range(len(cols))]
    fitted, keep = _fit(cols, heads, grid, natural, terminal_width(out))
    if title:
        out.write(_bold(title, out) + "\n")
    _write_block([heads[i] for i in keep], [fitted[i] for i in keep], [cols[i] for i in keep],
                 out, header=True)
    for row in grid:
        _write_block([row[i] for i in keep], [fitted[i] for i in keep],
                     [cols[i] for i in keep], out)


def _fit(cols: list[Col], heads: list[list[str]], grid: list[list[list[str]]],
         natural: list[int], limit: int | None) -> tuple[list[int], list[int]]:
    """Column widths and the columns kept: shrink text columns, then drop optional ones."""
    widths = list(natural)
    keep = list(range(len(cols)))
    if limit is None:
        return widths, keep
    floor = [max(min(natural[i], MIN_SHRUNK), *(width(h) for h in heads[i]),
                 *(width(line) for r in grid for line in r[i] if isinstance(line, Whole)))
             if cols[i].kind in SHRINKABLE else natural[i] for i in range(len(cols))]

    def total() -> int:
        return sum(widths[i] for i in keep) + len(GAP) * (len(keep) - 1)

    while total() > limit:
        over = total() - limit
        candidates = [i for i in keep if widths[i] > floor[i]]
        if candidates:
            widest = max(candidates, key=lambda i: widths[i])
            widths[widest] -= min(over, widths[widest] - floor[widest],
                                  max(1, widths[widest] - _second(candidates, widths, widest)))
            continue
        droppable = [i for i in keep if cols[i].optional]
        if not droppable:
            break  # identifiers alone are wider than the terminal: let the line run on
        keep.remove(droppable[-1])
        widths = list(natural)  # the others may take back what the dropped one freed
    return widths, keep


def _second(candidates: list[int], widths: list[int], widest: int) -> int:
    others = [widths[i] for i in candidates if i != widest]
    return max(others) if others else 0


SHRINKABLE = frozenset({"text", "auto"})
RIGHT = frozenset({"money", "count"})


def _write_block(cells: list[list[str]], widths: list[int], cols: list[Col], out: TextIO,
                 header: bool = False) -> None:
    height = max(len(c) for c in cells) if cells else 0
    for n in range(height):
        parts = []
        for cell, w, col in zip(cells, widths, cols, strict=True):
            line = cell[n] if n < len(cell) else ""
            line = line if isinstance(line, Whole) else clip(line, w)
            pad = " " * max(0, w - width(line))
            parts.append(pad + line if col.kind in RIGHT else line + pad)
        text = GAP.join(parts).rstrip()
        out.write((_bold(text, out) if header else text) + "\n")


def _detail(item: dict, fields: Sequence[str | Col] | None, headers: dict[str, str],
            title: str | None, currency: str | None, out: TextIO) -> None:
    """One item as `Label  value` lines; long text wraps, identifiers stay whole."""
    cols = [_col(c, headers) for c in (fields or list(item))]
    own = item.get("currency") if isinstance(item.get("currency"), str) else currency
    rows = [(c.label, human(c.key, c.get(item) if c.get else item.get(c.key), c.kind,
                            currency=own, detail=True)) for c in cols]
    label_width = max((width(name) for name, _ in rows), default=0)
    limit = terminal_width(out)
    room = max(20, limit - label_width - len(GAP)) if limit else None
    if title:
        out.write(_bold(title, out) + "\n")
    for name, value in rows:
        lines = [piece for line in value.split("\n")
                 for piece in (textwrap.wrap(line, room, break_long_words=False,
                                             break_on_hyphens=False) or [""]
                               if room and width(line) > room else [line])]
        indent = label_width
        if room and any(width(line) > room for line in lines):  # a long URL or e-mail:
            out.write(_bold(name, out) + "\n")  # whole, on the lines below its label
            name, indent = "", len(GAP)  # (only what is wider than a line is cut)
            lines = [piece for line in value.split("\n") for piece in textwrap.wrap(
                line, limit - 2 * indent, break_on_hyphens=False)]
        for n, line in enumerate(lines):
            head = _bold(name.ljust(indent), out) if n == 0 else " " * indent
            out.write((head + GAP + line).rstrip() + "\n")


def console(stderr: bool = True):  # noqa: ANN201
    """A Rich console for panels and progress (stderr by default)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
