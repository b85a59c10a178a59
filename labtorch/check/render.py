"""Check runs as a terminal table (rich), JSON, JUnit XML and a self-contained HTML report.

Every renderer takes a ``CheckRun``; the HTML one also takes the trend from ``history``. The HTML
report has no external assets (inline CSS, inline SVG chart) and escapes everything it shows
(jinja2 autoescape), so a host name or an error message cannot inject markup.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.table import Table
from rich.text import Text

from labtorch.check.model import COMPLIANT, CheckRun, HostReport, TrendPoint, room_summary

STATUS_STYLE = {
    "pass": "green",
    "skipped": "dim",
    "simulated": "cyan",
    "drift": "yellow",
    "fail": "red",
    "unreachable": "magenta",
}

ROOM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


# --- terminal -----------------------------------------------------------------------------------


def check_table(run: CheckRun) -> Table:
    """The host × check table: one row per host, one column per check, plus the host status."""
    table = Table(title=f"labtorch check: {run.inventory}", caption=caption(run),
                  show_lines=False)
    table.add_column("room")
    _host_column(table, run)
    for check in run.checks:
        table.add_column(check)
    table.add_column("status")
    for host in run.hosts:
        cells = {r.check: r.status for r in host.results}
        row = [Text(host.room), Text(host.host)]
        row += [_cell(cells.get(check, "")) for check in run.checks]
        row.append(_cell(host.status, short=False))
        table.add_row(*row)
    return table


def problem_lines(run: CheckRun) -> list[str]:
    """One line per problem: ``host check: cause -> fix`` (what the terminal prints below)."""
    lines = []
    for host in run.hosts:
        for result in host.problems:
            line = f"{host.host} {result.check} [{result.status}]: {result.cause}"
            if result.fix:
                line += f"  fix: {result.fix}"
            lines.append(line)
    return lines


def inventory_table(run: CheckRun) -> Table:
    """The version facts per host (``labtorch inventory-report``)."""
    table = Table(title=f"labtorch inventory: {run.inventory}")
    table.add_column("room")
    _host_column(table, run)
    for name in ("GPU(s)", "CC", "driver", "CUDA", "conda", "Python", "torch", "variant"):
        table.add_column(name, overflow="fold")
    for host in run.hosts:
        table.add_row(*inventory_row(host))
    return table


def _host_column(table: Table, run: CheckRun) -> None:
    """The host column: never wrapped or cut, whatever the terminal's width (the other columns
    give way)."""
    longest = max((len(h.host) for h in run.hosts), default=4)
    table.add_column("host", no_wrap=True, min_width=longest)


def inventory_row(host: HostReport) -> list[str]:
    v = host.versions
    dash = "–"
    gpus = ", ".join(v.gpus) or dash
    if v.simulated and v.gpus:
        gpus += " (simulated)"
    if host.status == "unreachable":
        return [host.room, host.host, "unreachable", *[dash] * 7]
    return [
        host.room,
        host.host,
        gpus,
        ", ".join(v.compute_capabilities) or dash,
        v.driver_version or dash,
        v.cuda_version or dash,
        v.conda_version or dash,
        v.python_version or dash,
        v.torch_version or dash,
        v.torch_variant or dash,
    ]


#: Short cell labels of the terminal table (the JSON, JUnit and HTML outputs use the full word).
CELL_LABEL = {"pass": "ok", "skipped": "-", "simulated": "sim", "drift": "DRIFT", "fail": "FAIL",
              "unreachable": "DOWN"}
LEGEND = ("ok = pass, - = skipped, sim = passed on GPU answers replayed from a recorded GPU "
          "(lab stand-in; compliant), DRIFT, FAIL, DOWN = unreachable")


def caption(run: CheckRun) -> str:
    """The legend, then which hosts' GPU answers were replayed and from which recording."""
    replayed = [f"{h.host}: {h.versions.replayed}" for h in run.hosts if h.versions.replayed]
    if not replayed:
        return LEGEND
    return LEGEND + "\nreplayed GPU answers: " + "; ".join(replayed)


def _cell(status: str, short: bool = True) -> Text:
    label = CELL_LABEL.get(status, status) if short else status
    return Text(label, style=STATUS_STYLE.get(status, ""))


# --- machine formats ----------------------------------------------------------------------------


def to_json(run: CheckRun) -> str:
    """The run as JSON (``CheckRun.to_dict``), indented."""
    return json.dumps(run.to_dict(), indent=2, sort_keys=False) + "\n"


def to_junit(run: CheckRun) -> str:
    """JUnit XML: one ``testsuite`` per room, one ``testcase`` per host × check.

    ``classname`` is ``<room>.<host>``, ``name`` the check. Drift and failures are ``failure``
    elements (``type`` = status), unreachable hosts ``error`` elements; simulated checks pass
    with a note in ``system-out``.
    """
    root = ET.Element("testsuites", name="labtorch check", timestamp=run.started_at)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for room in run.rooms:
        hosts = [h for h in run.hosts if h.room == room]
        suite = ET.SubElement(root, "testsuite", name=room, timestamp=run.started_at)
        counts = {"tests": 0, "failures": 0, "errors": 0}
        for host in hosts:
            for result in host.results:
                counts["tests"] += 1
                case = ET.SubElement(suite, "testcase", classname=f"{room}.{host.host}",
                                     name=result.check)
                body = result.cause + (f"\nfix: {result.fix}" if result.fix else "")
                if result.status == "unreachable":
                    counts["errors"] += 1
                    element = ET.SubElement(case, "error", message=result.cause, type="unreachable")
                    element.text = body
                elif result.status not in COMPLIANT:
                    counts["failures"] += 1
                    element = ET.SubElement(case, "failure", message=result.cause,
                                            type=result.status)
                    element.text = body
                elif result.status == "simulated" or result.detail:
                    out = ET.SubElement(case, "system-out")
                    out.text = "; ".join(
                        part for part in (result.status, result.cause, result.detail) if part
                    )
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{run.duration_s:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --- HTML ---------------------------------------------------------------------------------------


def to_html(run: CheckRun, trend: Sequence[TrendPoint] = ()) -> str:
    """The self-contained HTML report: summary per room, trend chart, one row per host, and
    every problem with its cause and the command that fixes it."""
    env = Environment(
        loader=PackageLoader("labtorch.check", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        run=run,
        summaries=[(room, room_summary(run, room)) for room in run.rooms],
        chart=trend_chart(trend),
        styles=STATUS_STYLE,
    )


@dataclass(frozen=True)
class ChartLine:
    room: str
    colour: str
    points: str  # SVG polyline "x,y x,y"
    dots: tuple[tuple[float, float, str], ...]  # x, y, tooltip


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    top: int
    plot_w: int
    plot_h: int
    lines: tuple[ChartLine, ...]
    first: str
    last: str
    runs: int


def trend_chart(trend: Sequence[TrendPoint], width: int = 640, height: int = 220) -> Chart | None:
    """Lay out the compliance trend (percent of hosts compliant per room, per run) as SVG
    coordinates; runs are spaced evenly in time order. ``None`` when there is no history."""
    if not trend:
        return None
    runs = sorted({p.started_at for p in trend})
    left, top, right, bottom = 48, 16, 120, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / (len(runs) - 1) if len(runs) > 1 else 0.0
    x_of = {run: left + (i * step if len(runs) > 1 else plot_w / 2) for i, run in enumerate(runs)}
    lines = []
    rooms = list(dict.fromkeys(p.room for p in sorted(trend, key=lambda p: p.started_at)))
    for index, room in enumerate(rooms):
        points = sorted((p for p in trend if p.room == room), key=lambda p: p.started_at)
        dots = []
        for p in points:
            share = p.compliant / p.total if p.total else 0.0
            y = top + plot_h * (1 - share)
            tip = f"{room} {p.started_at}: {p.compliant}/{p.total} compliant"
            dots.append((round(x_of[p.started_at], 1), round(y, 1), tip))
        lines.append(
            ChartLine(
                room=room,
                colour=ROOM_COLOURS[index % len(ROOM_COLOURS)],
                points=" ".join(f"{x},{y}" for x, y, _ in dots),
                dots=tuple(dots),
            )
        )
    return Chart(width, height, left, top, plot_w, plot_h, tuple(lines), runs[0], runs[-1],
                 len(runs))
