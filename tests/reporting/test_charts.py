"""The SVG charts: well-formed, escaped, self-contained, and showing the data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from reporting import charts

SVG = "{http://www.w3.org/2000/svg}"
TODAY = date(2026, 6, 15)


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own markup
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox")
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def assert_self_contained(svg: str) -> None:
    assert "<script" not in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_progress_by_category_draws_each_bar_and_escapes_labels():
    svg = charts.progress_by_category(
        [
            charts.CategoryBar(
                "Foundation", 85, expected=90, weight=25, status="on_track"
            ),
            charts.CategoryBar("<script>alert(1)</script>", 12.5, weight=75),
        ]
    )
    root = parse(svg)
    labels = texts(root)
    assert "Foundation (25%)" in labels
    assert "85.0%" in labels and "12.5%" in labels
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert_self_contained(svg)


def test_heat_map_counts_cells_and_colours_by_severity():
    cells = [
        charts.HeatCell(5, 5, 2, "critical"),
        charts.HeatCell(1, 2, 1, "low"),
    ]
    root = parse(charts.risk_heat_map(cells, severity_of=lambda s: "medium"))
    rects = list(root.iter(f"{SVG}rect"))
    assert len(rects) == 25
    fills = {r.get("fill") for r in rects}
    assert charts.SEVERITY_COLOURS["critical"] in fills
    assert charts.SEVERITY_COLOURS["low"] in fills
    assert charts.SEVERITY_COLOURS["medium"] in fills  # empty cells via severity_of
    counts = [t.text for t in root.iter(f"{SVG}text") if t.get("font-weight")]
    assert sorted(counts) == ["1", "2"]


def test_gantt_highlights_the_critical_path_draws_links_and_today():
    a = charts.GanttRow(1, "Design", TODAY - timedelta(days=30), TODAY, critical=True)
    b = charts.GanttRow(
        2,
        "Build",
        TODAY,
        TODAY + timedelta(days=40),
        forecast=TODAY + timedelta(days=55),
        percent=30,
        status="delayed",
        critical=True,
        href="/portfolios/p/milestones/2/",
    )
    c = charts.GanttRow(3, "Train", TODAY, TODAY + timedelta(days=10))
    svg = charts.gantt([a, b, c], [charts.GanttLink(1, 2)], today=TODAY)
    root = parse(svg)

    critical = [t for t in root.iter(f"{SVG}text") if t.get("fill") == charts.CRITICAL]
    assert {t.text for t in critical} == {"Design", "Build"}
    assert len(list(root.iter(f"{SVG}polyline"))) == 1  # one dependency
    assert any(line.get("stroke") == charts.TODAY for line in root.iter(f"{SVG}line"))
    assert f"today {TODAY:%d %b}" in texts(root)
    assert 'href="/portfolios/p/milestones/2/"' in svg
    assert "url(#cairn-forecast)" in svg  # the late forecast is hatched
    assert_self_contained(svg)


def test_burn_up_draws_completed_and_planned_lines():
    svg = charts.burn_up(
        [(TODAY - timedelta(days=20), 1), (TODAY - timedelta(days=5), 3)],
        [(TODAY - timedelta(days=30), 2), (TODAY + timedelta(days=30), 5)],
        total=5,
        today=TODAY,
    )
    root = parse(svg)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert "scope 5" in texts(root)


@pytest.mark.parametrize(
    "svg",
    [
        charts.progress_by_category([]),
        charts.gantt([], today=TODAY),
        charts.burn_up([], [], total=0, today=TODAY),
    ],
)
def test_empty_charts_say_so(svg):
    root = parse(svg)
    assert any(t.startswith("No ") for t in texts(root))


def test_every_chart_escapes_hostile_titles_labels_and_links():
    """Text from users (milestone and category names, titles, notes, links)
    is escaped in every chart: no element or attribute can be injected."""
    hostile = 'PF</style><script>alert(1)</script>"<b onmouseover="x">'
    row = charts.GanttRow(
        1,
        hostile,
        TODAY,
        TODAY + timedelta(days=30),
        href='/m/1/"><script>alert(1)</script>',
    )
    svgs = [
        charts.progress_by_category(
            [charts.CategoryBar(hostile, 40, 50)], title=hostile
        ),
        charts.risk_heat_map([charts.HeatCell(5, 5, 2, "critical")], title=hostile),
        charts.gantt([row], today=TODAY, title=hostile, note=hostile),
        charts.burn_up([(TODAY, 1)], [(TODAY, 2)], total=3, today=TODAY, title=hostile),
    ]
    for svg in svgs:
        root = parse(svg)  # still well-formed XML
        assert_self_contained(svg)
        elements = list(root.iter())
        assert all(el.tag.startswith(SVG) for el in elements)
        assert not [el for el in elements if el.tag.endswith("script")]
        assert not [a for el in elements for a in el.attrib if a.startswith("on")]
        # The text is shown as written (possibly clipped).
        assert "PF</style><script>" in "".join(root.itertext())
