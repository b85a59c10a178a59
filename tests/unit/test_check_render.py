"""Rendering a check run: terminal table, JSON, JUnit XML, self-contained HTML."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from rich.console import Console

from labtorch.check import render
from labtorch.check.model import CheckResult, CheckRun, HostReport, HostVersions, TrendPoint


def sample_run() -> CheckRun:
    def host(name: str, room: str, *results: tuple[str, str, str, str]) -> HostReport:
        return HostReport(
            host=name,
            room=room,
            results=tuple(CheckResult(name, c, s, cause, fix) for c, s, cause, fix in results),
            versions=HostVersions(os="linux", gpus=("NVIDIA GeForce RTX 3080",),
                                  compute_capabilities=("8.6",), driver_version="595.58.03",
                                  torch_version="2.9.1+cu128", torch_variant="cu128",
                                  simulated=True),
        )

    return CheckRun(
        started_at="2026-11-28T06:00:00Z",
        inventory="/srv/lab/inventory/room-a.py",
        duration_s=1.25,
        hosts=(
            host("pc01", "room-a", ("reach", "pass", "", ""), ("plan", "pass", "", ""),
                 ("cuda", "simulated", "stand-in GPU", "")),
            host("pc02", "room-a", ("reach", "pass", "", ""),
                 ("plan", "drift", "variant cu128 → cu126", "pyinfra inv deploy.py --limit pc02"),
                 ("cuda", "simulated", "", "")),
            host("pc03", "room-b", ("reach", "pass", "", ""), ("plan", "pass", "", ""),
                 ("torch", "fail", "torch <b>is</b> not installed", "pip install 'torch'")),
            host("pc04", "room-b", ("reach", "unreachable", "connection refused", "")),
        ),
    )


def test_exit_code_is_1_when_a_checked_host_drifted_even_if_another_is_unreachable() -> None:
    run = sample_run()
    assert run.noncompliant == ("pc02", "pc03")
    assert run.unreachable == ("pc04",)
    assert run.exit_code == 1


def test_exit_code_is_3_when_only_unreachable_hosts_are_not_compliant() -> None:
    run = sample_run()
    only = CheckRun(run.started_at, run.inventory, (run.hosts[0], run.hosts[3]))
    assert only.exit_code == 3
    assert CheckRun(run.started_at, run.inventory, (run.hosts[0],)).exit_code == 0


def test_simulated_checks_count_as_compliant() -> None:
    assert sample_run().hosts[0].status == "simulated"
    assert sample_run().hosts[0].compliant


def test_terminal_table_has_a_row_per_host_and_a_column_per_check() -> None:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(render.check_table(sample_run()))
    text = out.getvalue()
    for name in ("pc01", "pc02", "pc03", "pc04", "reach", "plan", "cuda", "torch"):
        assert name in text
    assert "unreachable" in text


def test_problem_lines_name_host_check_cause_and_fix() -> None:
    lines = render.problem_lines(sample_run())
    assert "pc02 plan [drift]: variant cu128 → cu126  fix: pyinfra inv deploy.py --limit pc02" \
        in lines
    assert len(lines) == 3


def test_json_round_trips_through_from_dict() -> None:
    run = sample_run()
    data = json.loads(render.to_json(run))
    assert data["exit_code"] == 1
    assert data["summary"]["room-b"] == {"pass": 0, "skipped": 0, "simulated": 0, "drift": 0,
                                         "fail": 1, "unreachable": 1, "total": 2, "compliant": 0}
    assert CheckRun.from_dict(data) == run


def test_junit_xml_is_valid_and_counts_failures_and_errors() -> None:
    root = ET.fromstring(render.to_junit(sample_run()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("10", "2", "1")
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert set(suites) == {"room-a", "room-b"}
    drift = suites["room-a"].find("testcase[@classname='room-a.pc02'][@name='plan']/failure")
    assert drift is not None and drift.get("type") == "drift"
    assert "--limit pc02" in (drift.text or "")
    error = suites["room-b"].find("testcase[@classname='room-b.pc04']/error")
    assert error is not None and error.get("message") == "connection refused"


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hosts: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and "host-row" in (values.get("class") or ""):
            self.hosts.append(values.get("data-host") or "")
        for key in ("src", "href"):
            if values.get(key):
                self.external.append(values[key] or "")


def test_html_report_has_one_row_per_host_and_no_external_assets() -> None:
    html = render.to_html(sample_run(), [TrendPoint("2026-11-27T06:00:00Z", "room-a", 2, 2)])
    parser = _Rows()
    parser.feed(html)
    assert parser.hosts == ["pc01", "pc02", "pc03", "pc04"]
    assert parser.external == []
    assert "svg" in parser.tags and "polyline" in parser.tags


def test_html_report_escapes_what_it_shows() -> None:
    html = render.to_html(sample_run())
    assert "torch <b>is</b>" not in html
    assert "torch &lt;b&gt;is&lt;/b&gt; not installed" in html
    assert "pip install &#39;torch&#39;" in html


def test_trend_chart_places_full_compliance_at_the_top_and_none_at_the_bottom() -> None:
    chart = render.trend_chart([
        TrendPoint("2026-01-01T00:00:00Z", "r", 4, 4),
        TrendPoint("2026-01-02T00:00:00Z", "r", 0, 4),
    ])
    assert chart is not None
    (line,) = chart.lines
    (x1, y1, _), (x2, y2, _) = line.dots
    assert y1 == chart.top
    assert y2 == chart.top + chart.plot_h
    assert x1 < x2
    assert render.trend_chart([]) is None


def test_inventory_rows_show_versions_and_mark_simulated_gpus() -> None:
    row = render.inventory_row(sample_run().hosts[0])
    assert row[2] == "NVIDIA GeForce RTX 3080 (simulated)"
    assert row[3:5] == ["8.6", "595.58.03"]
    assert row[8:] == ["2.9.1+cu128", "cu128"]
    assert render.inventory_row(sample_run().hosts[3])[2] == "unreachable"


def test_tables_fit_80_and_120_columns_without_cutting_host_names() -> None:
    run = sample_run()
    names = ("b204-pc01.lab.example.edu", "@winssh/b204-pc12.lab.example.edu")
    hosts = tuple(HostReport(**{**h.__dict__, "host": name})
                  for h, name in zip(run.hosts, names * 2, strict=False))
    run = CheckRun(run.started_at, run.inventory, hosts)
    for table in (render.check_table(run), render.inventory_table(run)):
        for width in (80, 120):
            console = Console(file=io.StringIO(), width=width, record=True)
            console.print(table)
            text = console.export_text()
            assert max(len(line) for line in text.splitlines()) <= width
            for name in names:
                assert name in text, (width, text)
