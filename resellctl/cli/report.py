"""`report ...`: the dashboard, seats, recurring costs, snapshots and activity charts."""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from resellctl.cli.options import Output, ResellerOpt
from resellctl.cli.output import Col, Format, emit, is_terminal, money, terminal_width
from resellctl.cli.state import State, state

app = typer.Typer(help="Dashboards, seat and recurring-cost reports, snapshots, charts.",
                  no_args_is_help=True)
SPARK = "▁▂▃▄▅▆▇█"
ANSI = re.compile(r"\x1b\[[0-9;]*m")



def _colour(out: Any = None) -> bool:
    return is_terminal(out or sys.stdout) and not os.environ.get("NO_COLOR")


def _console(width: int | None = None):  # noqa: ANN202
    """A Rich console on stdout: the terminal's width (80 off a terminal), colour only on
    a terminal without NO_COLOR."""
    from rich.console import Console

    return Console(file=sys.stdout, width=width or terminal_width(sys.stdout) or 80,
                   no_color=not _colour(), color_system="auto" if _colour() else None,
                   highlight=False, emoji=False)


# ---------------------------------------------------------------- dashboard


@app.command()
def dashboard(ctx: typer.Context, reseller: ResellerOpt = None,
              output: Output = Format.table) -> None:
    """The figures people look at every morning: clients, seats, licences, balance,
    subscriptions, MRR/ARR, renewals due; on a terminal one laid-out screen.

    \b
    Example: resellctl report dashboard -r acme
    """
    current = state(ctx)
    if output != Format.table:
        emit(current.call("report.dashboard", reseller=current.reseller(reseller)), output)
        return
    render_dashboard(current, reseller)


def render_dashboard(current: State, reseller: str | None) -> None:
    """The dashboard screen (also what `init --sample-data` ends with)."""
    from rich.panel import Panel
    from rich.table import Table

    slug = current.reseller(reseller)
    figures = current.call("report.dashboard", reseller=slug)
    recurring = current.call("report.recurring", reseller=slug, upcoming="30d")
    console = _console()
    width = console.width
    title = f"Dashboard · {slug or 'whole channel'} · {figures['date']}"
    console.print(f"[bold]{title}[/bold]" if _colour() else title)
    columns = 3 if width >= 72 else (2 if width >= 48 else 1)
    grid = Table.grid(expand=True, padding=(0, 0))
    for _ in range(columns):
        grid.add_column(ratio=1)
    boxes = _panels(figures, recurring, width // columns - 4)
    for start in range(0, len(boxes), columns):
        row = boxes[start:start + columns]
        height = max(body.count("\n") for _, body in row)  # a row's boxes line up
        grid.add_row(*[Panel(body + "\n" * (height - body.count("\n")), title=name,
                             title_align="left", padding=(0, 1)) for name, body in row],
                     *([""] * (columns - len(row))))
    console.print(grid)
    trend = current.call("report.activity", reseller=slug, range_="30d", metric="used_seats")
    if any(point["value"] is not None for point in trend):
        console.print(f"Seats used, 30 days  {sparkline([p['value'] for p in trend])}")
    sys.stdout.flush()
    if "resellers" in figures and len(figures["resellers"]) > 1:
        _section("Resellers by MRR", figures["resellers"],
                 ["reseller", Col("total_clients", "Clients", "count"),
                  Col("used_seats", "Seats\nused", "count"), "license_available",
                  "mrr_cents", "balance_cents"])
    _portfolio(current, slug)
    _section("Recurring costs", [r for r in recurring["intervals"] if r["count"]],
             ["interval", Col("count", "Subscriptions", "count"), "period_cents",
              "mrr_cents"])


def _panels(f: dict, recurring: dict, inner: int) -> list[tuple[str, str]]:
    short = recurring["short"]
    renewals = (f"{money(f['renewals_due_30d_cents'])} due\n"
                + ("balance covers them" if not short else
                   f"short from {short[0]['date']}\n({short[0]['reseller']})"))
    return [
        ("Clients", f"{f['total_clients']:,} total\n{f['active_clients']:,} active\n"
                    f"{f['trial_clients']:,} in trial"),
        ("Seats", f"{f['used_seats']:,} of {f['allocated_seats']:,} used\n"
                  + bar(f["used_seats"], f["allocated_seats"], inner)),
        ("Licences", f"{f['license_used']:,} of {f['license_count']:,} used\n"
                     + bar(f["license_used"], f["license_count"], inner)
                     + f"\n{f['license_available']:,} free"),
        ("Balance", money(f["balance_cents"])),
        ("Subscriptions", f"{f['active_subscriptions']:,} active\n"
                          f"MRR {money(f['mrr_cents'])}\nARR {money(f['arr_cents'])}"),
        ("Renewals, 30 days", renewals),
    ]


def bar(used: int, total: int, width: int) -> str:
    """`██████░░░░ 62%`: a utilisation bar (over 100% fills the bar and says so)."""
    size = max(4, min(width - 6, 20))
    if not total:
        return "░" * size + "  –"
    share = used / total
    filled = min(size, round(share * size))
    return "█" * filled + "░" * (size - filled) + f" {round(share * 100)}%"


def sparkline(values: list[int | None]) -> str:
    """One character per day, scaled to the range; a day without a snapshot is blank."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1
    return "".join(" " if v is None else SPARK[round((v - low) / span * (len(SPARK) - 1))]
                   for v in values)


def _section(title: str, rows: list[dict], table: list) -> None:
    if not rows:
        return
    sys.stdout.write("\n")
    emit(rows, Format.table, table=table, title=title)


def _portfolio(current: State, slug: str | None) -> None:
    from resellctl.cli.client import portfolio

    rows = list(current.call("client.list", reseller=slug, stages=[], status=None,
                             search=None, include_deleted=False, sort="-updated_at",
                             limit=5, offset=0))
    _section("Recently changed clients", rows, portfolio(across=slug is None))


# ---------------------------------------------------------------- seats and recurring


@app.command()
def seats(
    ctx: typer.Context,
    reseller: ResellerOpt = None,
    over_only: Annotated[bool, typer.Option("--over-only",
                                            help="Only clients using more than allocated.")
                         ] = False,
    output: Output = Format.table,
) -> None:
    """Seats per client: allocated, used, utilisation (⚠ over the allocation); totals.

    \b
    Example: resellctl report seats -r acme --over-only
    """
    current = state(ctx)
    result = current.call("report.seats", reseller=current.reseller(reseller),
                          over_only=over_only)
    if output in (Format.csv, Format.ndjson):  # rows only: the totals are their sums
        emit(result["clients"], output, columns=SEAT_COLUMNS)
        return
    if output != Format.table:
        emit(result, output)
        return
    emit(result["clients"], output, table=SEATS)
    totals = result["totals"]
    sys.stdout.write(f"\nTotal: {totals['seats_used']:,} of {totals['seats_allocated']:,} "
                     f"seats used ({_percent(totals['utilisation'])}) by "
                     f"{totals['clients']:,} clients; {totals['over_allocation']:,} over "
                     "their allocation\n")


SEAT_COLUMNS = ["client", "name", "reseller", "seats_allocated", "seats_used", "utilisation",
                "over_allocation"]


def _percent(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio * 100:.0f}%"


SEATS = [Col("name", "Client\nUID", get=lambda r: [r["name"], _whole(r["client"])]),
         Col("reseller", kind="ident", optional=True),
         Col("seats_allocated", "Allocated", "count"), Col("seats_used", "Used", "count"),
         Col("utilisation", "Use", "ident",
             lambda r: _percent(r["utilisation"]) + (" ⚠" if r["over_allocation"] else ""))]


def _whole(text: str) -> str:
    from resellctl.cli.output import Whole

    return Whole(text)


@app.command()
def recurring(
    ctx: typer.Context,
    reseller: ResellerOpt = None,
    upcoming: Annotated[str, typer.Option(help="The window of charges to list (e.g. 30d).")
                        ] = "30d",
    output: Output = Format.table,
) -> None:
    """Recurring costs: per interval the count, period total and MRR; MRR/ARR; the
    renewals due in the window day by day, and when the balance runs short.

    \b
    Example: resellctl report recurring -r acme --upcoming 60d
    """
    current = state(ctx)
    result = current.call("report.recurring", reseller=current.reseller(reseller),
                          upcoming=upcoming)
    if output in (Format.csv, Format.ndjson):
        emit(result["intervals"], output)
        return
    if output != Format.table:
        emit(result, output)
        return
    emit(result["intervals"], output, table=["interval", Col("count", "Subscriptions", "count"),
                                             "period_cents", "mrr_cents"])
    sys.stdout.write(f"\nMRR {money(result['mrr_cents'])} · ARR {money(result['arr_cents'])}"
                     f" · balance {money(result['balance_cents'])}\n")
    if result["upcoming"]:
        sys.stdout.write("\n")
        emit(result["upcoming"], output, title=f"Renewals due in the next "
             f"{result['upcoming_days']} days", table=[
                 Col("date", kind="date"), Col("renewals", "Renewals", "count"),
                 Col("charges_cents", "Charges"), Col("balance_after_cents", "Balance after")])
    if result["short"]:
        for short in result["short"]:
            sys.stdout.write(f"⚠ {short['reseller']}: the balance runs short on "
                             f"{short['date']} ({money(short['shortfall_cents'])} missing "
                             f"by the window's end)\n")
    else:
        sys.stdout.write(f"The balance covers the {money(result['due_cents'])} due.\n")


# ---------------------------------------------------------------- snapshots and activity


@app.command()
def snapshot(
    ctx: typer.Context,
    date: Annotated[str | None, typer.Option(help="Record under this date (default today).")
                    ] = None,
    output: Output = Format.table,
) -> None:
    """Record today's figures per reseller (cron, super admin); a rerun replaces the day.

    \b
    Example: resellctl report snapshot
    """
    from resellctl.domain import clock

    day = clock.parse_date(date, "--date") if date else None
    emit(state(ctx).call("report.snapshot", day=day), output)


@app.command()
def activity(
    ctx: typer.Context,
    reseller: ResellerOpt = None,
    range_: Annotated[str, typer.Option("--range", help="7d, 30d, 6m or 12m.")] = "30d",
    metric: Annotated[str, typer.Option(help="used_seats, active_clients or mrr.")
                      ] = "used_seats",
    out: Annotated[Path | None, typer.Option(
        help="Also save the chart as an SVG image (e.g. activity.svg).")
                   ] = None,
    output: Output = Format.table,
) -> None:
    """A chart of a metric per day from the snapshots; days without one are gaps.

    \b
    Example: resellctl report activity --range 6m --metric mrr --out mrr.svg
    """
    current = state(ctx)
    points = current.call("report.activity", reseller=current.reseller(reseller),
                          range_=range_, metric=metric)
    title = f"{metric.replace('_', ' ')}, last {range_}" + (
        f" · {current.reseller(reseller)}" if current.reseller(reseller) else "")
    if out is not None:
        save_svg(out, chart(points, metric, title, width=100, colour=True), title)
    if output != Format.table:
        emit(points, output)
        return
    if all(p["value"] is None for p in points):
        sys.stdout.write("No snapshots in this range: record them daily with "
                         "`resellctl report snapshot` (cron).\n")
        return
    sys.stdout.write(chart(points, metric, title, width=terminal_width(sys.stdout) or 80,
                           colour=_colour()) + "\n")


def chart(points: list[dict], metric: str, title: str, *, width: int, colour: bool) -> str:
    """The chart as text (plotext): dates on the x axis, gaps where a day has no value."""
    import plotext as plt

    plt.clf()
    plt.plotsize(max(40, width), 20)
    plt.theme("pro" if colour else "clear")
    scale = 100 if metric == "mrr" else 1  # MRR in currency units, not cents
    segment: list[tuple[int, float]] = []  # x is the day's index: dates label the ticks
    for index, point in enumerate([*points, {"date": None, "value": None}]):
        if point["value"] is not None:
            segment.append((index, point["value"] / scale))
            continue
        if segment:
            plt.plot([x for x, _ in segment], [y for _, y in segment], marker="braille",
                     color="cyan" if colour else "default")
        segment = []
    last = len(points) - 1
    ticks = sorted({round(last * n / 4) for n in range(5)})
    plt.xticks(ticks, [points[t]["date"] for t in ticks])
    plt.xlim(0, max(last, 1))
    values = [p["value"] / scale for p in points if p["value"] is not None] or [0]
    low, high = min(values), max(values)
    pad = (high - low) * 0.1 or max(1, abs(high) * 0.1)
    bottom, top = (max(0, low - pad) if low >= 0 else low - pad), high + pad
    plt.ylim(bottom, top)
    if metric == "mrr":  # ticks as amounts ($35,538.90), like every table
        from resellctl.cli.output import default_currency
        from resellctl.domain.money import format_cents

        steps = [bottom + (top - bottom) * n / 4 for n in range(5)]
        plt.yticks(steps, [format_cents(round(s * 100), default_currency()) for s in steps])
    known = any(p["value"] is not None for p in points)
    plt.title(title if known else f"{title} (no snapshots yet)")
    plt.xlabel("date")
    plt.ylabel({"mrr": "MRR"}.get(metric, metric.replace("_", " ")))
    text = plt.build()
    return text if colour else ANSI.sub("", text)


def save_svg(path: Path, text: str, title: str) -> None:
    """The chart as an SVG image (Rich's export), written atomically."""
    from rich.console import Console
    from rich.text import Text

    from resellctl.files import write_out

    console = Console(record=True, file=io.StringIO(), width=max(len(line) for line in
                                                                 Text.from_ansi(text).plain
                                                                 .splitlines()) + 2)
    console.print(Text.from_ansi(text))
    svg = console.export_svg(title=title)
    write_out(path, lambda handle: handle.write(svg))


# ---------------------------------------------------------------- the monthly export


@app.command()
def monthly(
    ctx: typer.Context,
    month: Annotated[str, typer.Option(help="The month, YYYY-MM.")],
    reseller: ResellerOpt = None,
    out: Annotated[Path | None, typer.Option(
        help="Write to this file (atomically) instead of stdout.")] = None,
    output: Output = Format.table,
) -> None:
    """One row per reseller for a month (cron export): clients, seats, licences, MRR and
    its movements (new, expansion, contraction, churn), charges and top-ups.

    \b
    Example: resellctl report monthly --month 2026-11 -o csv --out stats-2026-11.csv
    """
    from resellctl.operations import MONTHLY_COLUMNS

    current = state(ctx)
    arguments = {"month": month, "reseller": current.reseller(reseller)}
    if out is None and output == Format.csv and current.remote:  # streamed through
        current.copy("report.monthly", output, MONTHLY_COLUMNS, **arguments)
        return
    rows = current.call("report.monthly", **arguments)
    table = ["reseller", Col("clients_total", "Clients", "count"),
             Col("clients_new", "New", "count"), Col("clients_churned", "Churned", "count"),
             "mrr_cents", Col("mrr_new_cents", "MRR new"),
             Col("mrr_churn_cents", "MRR churn", optional=True),
             Col("charges_cents", "Charges", optional=True)]
    if out is None:
        emit(rows, output, columns=list(MONTHLY_COLUMNS), table=table)
        return
    from resellctl.files import write_out

    write_out(out, lambda handle: emit(rows, output, columns=list(MONTHLY_COLUMNS),
                                          table=table, out=handle))
