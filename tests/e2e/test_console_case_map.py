"""The case page's small map in a real browser, with no tiles: the case, its grid outlined and
named, the open cases and risk points around it as the API scopes them for the officer, a
legend in the markers' own colours, and stages in words, in both languages."""

from __future__ import annotations

import re


def console_token(page) -> str:
    """The signed-in console's access token (its cookie), for the API calls of the test."""
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


KINDS = ["this", "urgent", "overdue", "case", "risk-major", "risk-high", "risk-medium", "risk-low"]
STATUS_WORDS = {
    "zh": {"待受理", "已立案", "已交办", "整改中", "已挂起", "待核查"},
    "en": {"Submitted", "Registered", "Dispatched", "In progress", "Suspended", "Pending check"},
}


def test_the_case_page_shows_where_the_case_is(console, live_server, screenshot):
    with live_server.api(console_token(console)) as api:
        open_cases = api.get("/api/v1/reports/map").json()["features"]
        # the open case with the most open cases around it
        best = None
        for case in open_cases[:12]:
            found = api.get(f"/api/v1/reports/{case['id']}/surroundings").json()
            if best is None or len(found["cases"]["features"]) > len(best["cases"]["features"]):
                best = found
    assert best and best["cases"]["features"], "the demo has open cases near each other"
    case_id = best["case"]["id"]
    own = next(g for g in best["grids"] if g["properties"]["own"])

    for lang in ("zh", "en"):
        console.goto(f"/console/cases/{case_id}?lang={lang}")
        console.wait_for_selector("#case-map[data-ready=true]", timeout=20000)
        assert console.locator(".leaflet-tile").count() == 0  # nothing from outside
        assert console.locator("#case-map path.this-case").count() == 1
        assert console.locator("#case-map path.case-grid").count() == 1
        label = console.locator(".leaflet-tooltip.own-label")
        assert label.is_visible()
        assert (
            label.inner_text() == f"{own['properties']['community']} / {own['properties']['name']}"
        )
        assert console.locator("#case-map path.open-case").count() == len(best["cases"]["features"])
        assert console.locator("#case-map path.risk-point").count() == len(
            best["risk_points"]["features"]
        )
        assert console.locator("#case-map path.grid").count() == len(best["grids"]) - 1

        # the legend's swatches are the markers' own colours
        for kind in KINDS:
            entry = console.locator(f"#case-legend [data-marker='{kind}'] circle")
            legend = {a: entry.get_attribute(a) for a in ("fill", "stroke", "stroke-width")}
            markers = console.locator(f"#case-map path.marker-{kind}")
            for i in range(markers.count()):
                drawn = {a: markers.nth(i).get_attribute(a) for a in ("fill", "stroke")}
                drawn["stroke-width"] = markers.nth(i).get_attribute("stroke-width")
                assert drawn == legend, (kind, drawn, legend)
        line = console.locator("#case-legend [data-line='case-grid'] line")
        outline = console.locator("#case-map path.case-grid")
        assert line.get_attribute("stroke") == outline.get_attribute("stroke")

        # hovering a nearby case names its stage in words
        texts = []
        markers = console.locator("#case-map path.open-case")
        for i in range(min(markers.count(), 4)):
            markers.nth(i).hover(force=True)
            tip = console.locator(".leaflet-tooltip:not(.area-label)").last
            tip.wait_for()
            texts.append(tip.inner_text())
        assert texts and all(t.startswith("#") for t in texts), texts
        for text in texts:
            assert any(w in text for w in STATUS_WORDS[lang]), (lang, text)
            assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
        status = console.locator("#case-map-status").inner_text()
        assert str(len(best["cases"]["features"])) in status
        console.locator("[data-testid=case-map]").scroll_into_view_if_needed()
        screenshot(console, f"console-case-map-{lang}")

    # a nearby case's marker leads to its page
    target = console.locator("#case-map path.open-case").first
    target.click(force=True)
    console.wait_for_url(re.compile(r"/console/cases/\d+"))
    assert console.url.rsplit("/", 1)[-1].split("?")[0] != str(case_id)
