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
