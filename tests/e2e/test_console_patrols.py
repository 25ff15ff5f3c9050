"""The patrol page in a real browser: a plan is made through the page's form, and a missed
task is excused from the day's board."""

from __future__ import annotations

import uuid


def console_token(page) -> str:
    """The signed-in console's access token (its cookie), so the test needs no second sign-in
    (sign-ins are rate-limited per address, and the browser tests share one server)."""
    return next(c["value"] for c in page.context.cookies() if c["name"] == "grid_access")


def test_a_plan_is_made_through_the_page_and_a_miss_excused(console, live_server, screenshot):
    console.goto("/console/patrols")
    name = f"夜间巡查 {uuid.uuid4().hex[:6]}"
    console.click("#new-plan")
    form = console.locator("#plan-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=time]").fill("23:30")
    form.locator("button[type=submit]").click()
    console.wait_for_load_state()
    try:
        console.wait_for_selector(f"[data-testid=plans] >> text={name}", timeout=15000)
    except Exception:
        raise AssertionError(form.locator("[data-error]").inner_text()) from None
    row = console.locator("[data-testid=plans] tr", has_text=name)
    assert "执行中" in row.inner_text()

    with live_server.api(console_token(console)) as api:
        plans = api.get("/api/v1/patrol-plans", params={"limit": 200}).json()["items"]
        plan = next(p for p in plans if p["name"] == name)
        tasks = api.get("/api/v1/tasks", params={"plan_id": plan["id"]}).json()["items"]
        task = tasks[0]
        live_server.miss_task(task["id"])
        assert api.get(f"/api/v1/tasks/{task['id']}").json()["status"] == "missed"

    console.goto(f"/console/patrols?day={task['local_date']}")
    card = console.locator(f"[data-status=missed] [data-task='{task['id']}']")
    card.click()
    dialog = console.locator("#task-dialog")
    dialog.wait_for()
    dialog.locator("#task-map path.checkpoint").wait_for()  # the checkpoint on the small map
    dialog.locator("textarea[name=reason]").fill("暴雨封路，无法通行")
    screenshot(console, "console-patrols-task")
    dialog.locator("#excuse-form button[type=submit]").click()
    console.wait_for_selector(f"[data-status=missed] [data-task='{task['id']}'] >> text=已免责")
    with live_server.api(console_token(console)) as api:
        done = api.get(f"/api/v1/tasks/{task['id']}").json()
    assert done["excused"] is True and done["excuse_reason"] == "暴雨封路，无法通行"
    # pausing from the page
    console.locator("[data-testid=plans] tr", has_text=name).locator(
        "[data-plan-action=pause]"
    ).click()
    console.wait_for_selector(f"[data-testid=plans] tr:has-text('{name}') >> text=已暂停")
    screenshot(console, "console-patrols")


def test_a_late_answer_for_an_earlier_grid_does_not_replace_the_chosen_grids_checkpoints(
    console, live_server
):
    """Choosing a grid, then another before the first one's risk points arrive, must leave the
    second grid's checkpoints on the form (a plan would otherwise get the wrong ones)."""
    console.goto("/console/patrols")
    console.click("#new-plan")
    form = console.locator("#plan-form")
    grids = [o.get_attribute("value") for o in form.locator("select[name=grid_id] option").all()]
    with live_server.api(console_token(console)) as api:
        names = {
            g: [
                p["name"]
                for p in api.get("/api/v1/risk-points", params={"area_id": g, "limit": 200}).json()[
                    "items"
                ]
            ]
            for g in grids
        }
    first, second = next(
        (a, b)
        for a in grids
        for b in grids
        if a != b and names[a] and set(names[a]) != set(names[b])
    )
    held = []

    def hold_first(route):
        if f"area_id={first}&" in route.request.url:
            held.append(route)
        else:
            route.continue_()

    box = console.locator("#checkpoint-choices")
    console.route("**/api/v1/risk-points?*", hold_first)
    form.locator("select[name=grid_id]").select_option(first)
    for _ in range(100):
        if held:
            break
        console.wait_for_timeout(50)
    assert held, "the first grid's risk points were never asked for"
    form.locator("select[name=grid_id]").select_option(second)
    expected = names[second][0] if names[second] else "该网格暂无风险点位"
    box.get_by_text(expected).first.wait_for()
    held[0].continue_()
    console.wait_for_timeout(500)  # the late answer has arrived and been handled
    shown = box.inner_text()
    assert expected in shown
    assert not any(n in shown for n in set(names[first]) - set(names[second]))
