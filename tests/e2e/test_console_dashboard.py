"""The dashboard in a real browser: its figures are the API's, each opens the list behind it."""

from __future__ import annotations

DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道


def value(page, name: str) -> str:
    return page.locator(f"[data-figure='{name}'] .value").inner_text().strip()


def percent(rate: float | None) -> str:
    return "暂无数据" if rate is None else f"{rate * 100:.1f}%"


def test_dashboard_figures_match_the_api(console, live_server, screenshot):
    console.goto("/console/")
    assert console.locator("h1").inner_text().startswith("总览")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        figures = api.get("/api/v1/stats/dashboard").json()
    assert figures["cases"]["open"] > 0  # the demo has open cases
    assert value(console, "cases.open") == str(figures["cases"]["open"])
    assert value(console, "cases.overdue") == str(figures["cases"]["overdue"])
    assert value(console, "cases.in_rectification") == str(figures["cases"]["in_rectification"])
    assert value(console, "cases.urgent_open") == str(figures["cases"]["urgent_open"])
    assert value(console, "rectification.rate") == percent(figures["rectification"]["rate"])
    assert value(console, "coverage.share") == percent(figures["coverage"]["share"])
    today = figures["patrols_today"]
    assert value(console, "patrols_today.done_share") == percent(today["done_share"])
    reaction = figures["response"]["reaction"]["community"]
    row = console.locator("[data-figure='response.reaction.community']")
    assert row.get_attribute("data-count") == str(reaction["count"])
    assert console.locator("svg.chart[data-chart='cases'] rect").count() > 0
    screenshot(console, "console-dashboard")

    # the overdue figure opens the queue of exactly those cases
    console.click("[data-figure='cases.overdue']")
    console.wait_for_url("**/console/cases?overdue=true*")
    rows = console.locator("tr[data-case]")
    assert rows.count() == min(figures["cases"]["overdue"], 50)
    assert console.locator("tr[data-case] .badge.danger", has_text="超期").count() == rows.count()


def test_dashboard_switches_to_english_and_another_period(console, live_server):
    console.goto("/console/?lang=en")
    assert console.locator("[data-figure='cases.open'] .label").inner_text() == "Open cases"
    console.click(".ranges a:has-text('Last 7 days')")
    console.wait_for_url("**/console/?from=*")
    with live_server.api(live_server.login(DISPATCHER)) as api:
        start = console.locator("input[name=from]").input_value()
        end = console.locator("input[name=to]").input_value()
        figures = api.get("/api/v1/stats/dashboard", params={"from": start, "to": end}).json()
    assert len(figures["trend"]) == 7
    assert value(console, "rectification.rate") == (
        "no data"
        if figures["rectification"]["rate"] is None
        else f"{figures['rectification']['rate'] * 100:.1f}%"
    )
    console.goto("/console/?lang=zh-CN")
