"""The risk map in a real browser: the demo township's grids are drawn as SVG outlines (no
tile server), with risk points and open cases, and a click shows the grid's team."""

from __future__ import annotations


def console_token(page) -> str:
    """The signed-in console's access token (its cookie), so the test needs no second sign-in
    (sign-ins are rate-limited per address, and the browser tests share one server)."""
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


def test_the_map_draws_the_grids_of_the_demo_township(console, live_server, screenshot):
    with live_server.api(console_token(console)) as api:
        grids = api.get("/api/v1/map/grids").json()
        cases = api.get("/api/v1/reports/map").json()
    assert grids["area"]["name"] == "七星岗街道"
    expected = len(grids["features"])
    assert expected >= 5
    console.goto("/console/map")
    console.wait_for_selector("#map[data-ready=true]", timeout=20000)
    assert console.locator("#map path.grid").count() == expected
    assert console.locator("#map").get_attribute("data-grids") == str(expected)
    assert console.locator("#map path.open-case").count() == len(cases["features"]) > 0
    assert console.locator("#map path.risk-point").count() >= 1
    assert console.locator(".leaflet-tile").count() == 0  # nothing fetched from outside
    # the demo grid (the one with a risk point and 周网格员) shows its team on a click
    demo = next(f for f in grids["features"] if f["properties"]["risk_points"])
    index = grids["features"].index(demo)
    console.locator("#map path.grid").nth(index).click(force=True)
    team = console.locator("[data-testid=grid-team]")
    team.wait_for()
    assert "周网格员" in team.inner_text()
    console.select_option("#colour-by", "risk")
    screenshot(console, "console-map")


def test_a_case_marker_names_its_stage_in_the_pages_language(console, live_server):
    """Hovering an open case shows its stage as the officer reads it (待受理…), never the
    workflow's code (`submitted`)."""
    from grid_backend.hazards import workflow

    with live_server.api(console_token(console)) as api:
        cases = api.get("/api/v1/reports/map").json()["features"]
    console.goto("/console/map")
    console.wait_for_selector("#map[data-ready=true]", timeout=20000)
    shown = []
    markers = console.locator("#map path.open-case")
    for i in range(min(markers.count(), 5)):
        markers.nth(i).hover(force=True)
        tip = console.locator(".leaflet-tooltip").last
        tip.wait_for()
        shown.append(tip.inner_text())
    assert shown and all(text.startswith("#") for text in shown), shown
    for text in shown:
        assert not any(f" {code}" in text for code in workflow.STATUSES), text
    assert {c["properties"]["status"] for c in cases}  # the demo has open cases to show


def _open_map(page, lang: str) -> None:
    page.goto(f"/console/map?lang={lang}")
    page.wait_for_selector("#map[data-ready=true]", timeout=20000)


def _shown_names(page, level: str) -> list[str]:
    return page.locator(f".leaflet-tooltip.{level}-label:not(.label-hidden)").all_inner_texts()


def _zoom(page, button: str, times: int) -> None:
    for _ in range(times):
        page.click(f".leaflet-control-zoom-{button}")
        page.wait_for_timeout(500)  # the zoom animation, then the names are placed again


def test_the_map_names_grids_close_up_and_communities_further_out(console, live_server, screenshot):
    """With no tiles the map still reads: grid names where grids are large enough on screen,
    community names when they are not, the township's name further out; communities and the
    township are outlined with thicker lines than the grids."""
    with live_server.api(console_token(console)) as api:
        grids = api.get("/api/v1/map/grids").json()["features"]
        outlines = api.get("/api/v1/map/outlines").json()["features"]
    communities = [
        f["properties"]["name"] for f in outlines if f["properties"]["level"] == "community"
    ]
    assert len(communities) >= 2
    assert [
        f["properties"]["name"] for f in outlines if f["properties"]["level"] == "township"
    ] == ["七星岗街道"]
    _open_map(console, "zh")
    assert console.locator("#map path.outline-community").count() == len(communities)
    assert console.locator("#map path.outline-township").count() == 1
    width = {
        kind: float(console.locator(f"#map path.{kind}").first.get_attribute("stroke-width"))
        for kind in ("outline-township", "outline-community", "grid")
    }
    assert width["outline-township"] > width["outline-community"] > width["grid"]

    # the whole township in view: grid names, each a real grid's, none on top of another
    assert console.locator("#map").get_attribute("data-labels") == "grid"
    names = _shown_names(console, "grid")
    assert len(names) >= 0.6 * len(grids)
    assert set(names) <= {g["properties"]["name"] for g in grids}
    boxes = [
        console.locator(".leaflet-tooltip.grid-label:not(.label-hidden)").nth(i).bounding_box()
        for i in range(len(names))
    ]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, (a, b)
    screenshot(console, "console-map-grid-names")

    _zoom(console, "out", 1)  # grids too small for their names: the communities'
    assert console.locator("#map").get_attribute("data-labels") == "community"
    assert _shown_names(console, "grid") == []
    assert set(_shown_names(console, "community")) == set(communities)
    screenshot(console, "console-map-community-names")

    _zoom(console, "out", 2)
    assert console.locator("#map").get_attribute("data-labels") == "township"
    assert _shown_names(console, "township") == ["七星岗街道"]


MARKER_KINDS = ["urgent", "overdue", "case", "risk-major", "risk-high", "risk-medium", "risk-low"]


def test_the_legend_draws_the_markers_as_they_are_on_the_map(console):
    """Each legend entry has the colours of the markers it explains, and every kind of marker
    on the map has its entry."""
    _open_map(console, "zh")
    on_map = set()
    for kind in MARKER_KINDS:
        markers = console.locator(f"#map path.marker-{kind}")
        entry = console.locator(f"#legend [data-marker='{kind}'] circle")
        assert entry.count() == 1, kind
        legend = {a: entry.get_attribute(a) for a in ("fill", "stroke", "stroke-width")}
        for i in range(markers.count()):
            on_map.add(kind)
            drawn = {a: markers.nth(i).get_attribute(a) for a in ("fill", "stroke", "stroke-width")}
            assert drawn == legend, (kind, drawn, legend)
    assert {"urgent", "case"} <= on_map  # the demo has both, so the comparison ran
    assert console.locator("#map path.risk-point").count() == sum(
        console.locator(f"#map path.marker-{k}").count()
        for k in MARKER_KINDS
        if k.startswith("risk")
    )
    for level in ("township", "community"):
        line = console.locator(f"#legend [data-line='{level}'] line")
        path = console.locator(f"#map path.outline-{level}").first
        assert line.get_attribute("stroke") == path.get_attribute("stroke"), level
        assert line.get_attribute("stroke-width") == path.get_attribute("stroke-width"), level


STATUS_WORDS = {
    "zh": {"待受理", "已立案", "已交办", "整改中", "已挂起", "待核查"},
    "en": {"Submitted", "Registered", "Dispatched", "In progress", "Suspended", "Pending check"},
}


def test_statuses_are_words_on_the_map_in_both_languages(console, live_server, screenshot):
    """The stage of a case on the map, in a marker's tooltip and in a grid's list of cases, is
    the officer's word for it in the page's language, never the workflow's code."""
    import re

    from grid_backend.hazards import workflow

    with live_server.api(console_token(console)) as api:
        grids = api.get("/api/v1/map/grids").json()["features"]
    busy = max(range(len(grids)), key=lambda i: grids[i]["properties"]["open_cases"])
    for lang in ("zh", "en"):
        _open_map(console, lang)
        shown = []
        markers = console.locator("#map path.open-case")
        for i in range(min(markers.count(), 6)):
            markers.nth(i).hover(force=True)
            tip = console.locator(".leaflet-tooltip:not(.area-label)").last
            tip.wait_for()
            shown.append(tip.inner_text())
        console.locator("#map path.grid").nth(busy).click(force=True)
        console.locator("[data-testid=grid-cases] li").first.wait_for()
        shown += console.locator("[data-testid=grid-cases] li").all_inner_texts()
        for text in shown:
            assert not any(code in text for code in workflow.STATUSES if "_" in code), text
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
        words = STATUS_WORDS[lang]
        assert all(any(w in text for w in words) for text in shown), (lang, shown)
        screenshot(console, f"console-map-statuses-{lang}")
