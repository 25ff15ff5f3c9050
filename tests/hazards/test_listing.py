"""Listing and reading cases: who sees which, the filters, pagination, and what residents see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import G1, G2, G3, G4, Person, file_report, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.settings import get_settings


async def listing(client, person: Person, path: str = "/api/v1/reports", **params) -> list[int]:
    r = await client.get(path, params=params, headers=person.headers)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def act(client, person: Person, report_id: int, **body) -> dict:
    r = await client.post(f"/api/v1/reports/{report_id}/actions", json=body, headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def later(person: Person) -> Person:
    """The same person with a token issued at the (moved) clock."""
    return Person(person.id, person.phone, issue_access_token(person.id)[0])


@pytest.fixture
async def town(client):
    """Two residents' cases across both districts and the staff around them."""
    ids = await make_tree()
    people = {
        "r1": await make_person(name="居民甲"),
        "r2": await make_person(name="居民乙"),
        "disp1": await make_person(("dispatcher", "500103001")),
        "disp2": await make_person(("dispatcher", "500103002")),
        "sup": await make_person(("supervisor", "500103")),
        "w1": await make_person(("grid_worker", G1), employment="full_time"),
        "w2": await make_person(("grid_worker", G2), employment="full_time"),
        "instructor": await make_person(("grid_instructor", G1)),
    }
    r1, r2 = people["r1"], people["r2"]
    cases = {
        "a": await file_report(client, r1, grid=G1, description="燃气管道漏气"),
        "b": await file_report(client, r1, grid=G2, category="fire", description="100%确定有火情"),
        "c": await file_report(client, r2, grid=G3, description="a_b 井盖缺失"),
        "d": await file_report(client, r2, grid=G4, category="landslide", description="边坡裂缝"),
    }
    return ids, people, {k: v["id"] for k, v in cases.items()}


# --- scope -------------------------------------------------------------------------------------


async def test_each_person_sees_their_own_scope(client, town):
    _, p, c = town
    assert await listing(client, p["disp1"]) == [c["b"], c["a"]]
    assert await listing(client, p["disp2"]) == [c["c"]]
    assert await listing(client, p["sup"]) == [c["c"], c["b"], c["a"]]
    assert await listing(client, p["w1"]) == [c["a"]]
    assert await listing(client, p["w2"]) == [c["b"]]
    assert await listing(client, p["instructor"]) == [c["a"]]
    assert await listing(client, p["r1"]) == [c["b"], c["a"]]
    assert await listing(client, p["r2"]) == [c["d"], c["c"]]
    stranger = await make_person()
    assert await listing(client, stranger) == []
    # asking for another area or another person's cases does not widen the scope
    assert await listing(client, p["r1"], category="landslide") == []
    assert await listing(client, p["disp1"], area_id=town[0]["500103002"]) == []


async def test_a_grid_worker_also_sees_what_is_dispatched_to_them(client, town):
    _, p, c = town
    await act(client, p["disp1"], c["b"], action="register")
    await act(client, p["disp1"], c["b"], action="dispatch", assignee_id=p["w1"].id)
    assert await listing(client, p["w1"]) == [c["b"], c["a"]]
    assert await listing(client, p["w1"], assignee_id=p["w1"].id) == [c["b"]]
    # and what is dispatched to their grid
    await act(client, p["disp1"], c["a"], action="register")
    await act(client, p["disp1"], c["a"], action="dispatch", grid_id=town[0][G2])
    assert await listing(client, p["w2"]) == [c["b"], c["a"]]
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["w2"].headers)
    assert r.status_code == 200
    assert "acknowledge" in r.json()["actions"]
    # the other residents still see only their own
    assert await listing(client, p["r2"]) == [c["d"], c["c"]]


async def test_a_resident_never_reads_another_residents_case(client, town):
    _, p, c = town
    r = await client.get(f"/api/v1/reports/{c['c']}", headers=p["r1"].headers)
    assert r.status_code == 404
    assert r.json()["code"] == "report_not_found"
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["disp2"].headers)
    assert r.status_code == 404


# --- filters -----------------------------------------------------------------------------------


async def test_filters(client, town):
    ids, p, c = town
    sup, disp1 = p["sup"], p["disp1"]
    urgent = (await file_report(client, p["r1"], grid=G1, urgent=True, description="紧急"))["id"]
    await act(client, disp1, c["a"], action="register", level="major")
    await act(client, disp1, c["b"], action="register")
    await act(client, disp1, c["b"], action="dispatch", assignee_id=p["w1"].id)
    await act(client, p["disp2"], c["c"], action="reject", reason="重复")

    assert await listing(client, sup, status="registered") == [c["a"]]
    assert await listing(client, sup, status=["registered", "dispatched"]) == [c["b"], c["a"]]
    assert await listing(client, sup, status=["submitted", "rejected"]) == [urgent, c["c"]]
    assert await listing(client, sup, category="fire") == [c["b"]]
    assert await listing(client, sup, category="gas") == [urgent, c["c"], c["a"]]
    assert await listing(client, sup, level="major") == [c["a"]]
    assert await listing(client, sup, level="general") == [urgent, c["c"], c["b"]]
    assert await listing(client, sup, area_id=ids[G2]) == [c["b"]]
    assert await listing(client, sup, area_id=ids["500103002"]) == [c["c"]]
    assert await listing(client, sup, area_id=ids["500103001001"]) == [urgent, c["b"], c["a"]]
    assert await listing(client, sup, assignee_id=p["w1"].id) == [c["b"]]
    assert await listing(client, sup, urgent="true") == [urgent]
    assert await listing(client, sup, urgent="false") == [c["c"], c["b"], c["a"]]
    assert await listing(client, sup, status="closed") == []

    for params, field in (
        ({"status": "opened"}, "status"),
        ({"level": "huge"}, "level"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"created_from": "yesterday"}, "created_from"),
    ):
        r = await client.get("/api/v1/reports", params=params, headers=sup.headers)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["code"] == "validation_failed"
        assert field in [e["field"] for e in r.json()["errors"]], r.json()
    r = await client.get("/api/v1/reports", params={"area_id": 999_999}, headers=sup.headers)
    assert r.status_code == 404


async def test_created_between(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)
    made = []
    for day in range(3):
        clock.set_clock(lambda day=day: start + timedelta(days=day))
        made.append((await file_report(client, resident, grid=G1))["id"])
    clock.set_clock(None)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    assert await listing(
        client,
        dispatcher,
        created_from=(start + timedelta(hours=12)).strftime(fmt),
        created_to=(start + timedelta(hours=36)).strftime(fmt),
    ) == [made[1]]
    assert await listing(client, dispatcher, created_from=start.strftime(fmt)) == made[::-1]
    # created_to is exclusive; a time with an offset means the same instant
    local = (start + timedelta(days=2)).astimezone(get_settings().zone).isoformat()
    assert await listing(client, dispatcher, created_to=local) == [made[1], made[0]]


async def test_text_search_treats_percent_and_underscore_literally(client, town):
    _, p, c = town
    sup = p["sup"]
    extra = (await file_report(client, p["r2"], grid=G3, description="ab 100 确定"))["id"]
    assert await listing(client, sup, q="燃气") == [c["a"]]
    assert await listing(client, sup, q="%") == [c["b"]]
    assert await listing(client, sup, q="100%") == [c["b"]]
    assert await listing(client, sup, q="_") == [c["c"]]
    assert await listing(client, sup, q="a_b") == [c["c"]]
    assert await listing(client, sup, q="A_B") == [c["c"]]  # case does not matter
    assert await listing(client, sup, q="确定") == [extra, c["b"]]
    assert await listing(client, sup, q="\\") == []
    assert await listing(client, sup, q="%" * 100) == []
    r = await client.get("/api/v1/reports", params={"q": "x" * 101}, headers=sup.headers)
    assert r.status_code == 422


async def test_overdue_follows_the_clock(client, town):
    _, p, c = town
    sup = p["sup"]
    await act(client, p["disp2"], c["c"], action="reject", reason="不属实")
    assert await listing(client, sup, overdue="true") == []
    assert await listing(client, sup, overdue="false") == [c["c"], c["b"], c["a"]]

    # triage is due within an hour of submission: two hours later the open ones are late
    two_hours = datetime.now(UTC) + timedelta(hours=2)
    clock.set_clock(lambda: two_hours)
    sup = later(sup)
    assert await listing(client, sup, overdue="true") == [c["b"], c["a"]]
    assert await listing(client, sup, overdue="false") == [c["c"]]
    page = (await client.get("/api/v1/reports", headers=sup.headers)).json()
    assert {i["id"]: i["overdue"] for i in page["items"]} == {
        c["a"]: True,
        c["b"]: True,
        c["c"]: False,
    }
    detail = (await client.get(f"/api/v1/reports/{c['a']}", headers=sup.headers)).json()
    assert detail["overdue"] is True


async def test_pagination_walks_every_case_once_newest_first(client):
    ids = await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    made = [(await file_report(client, resident, grid=(G1, G2)[i % 2]))["id"] for i in range(7)]
    for person, path in (
        (dispatcher, "/api/v1/reports"),
        (resident, "/api/v1/reports"),
        (resident, "/api/v1/me/reports"),
    ):
        seen, pages, cursor = [], 0, None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            r = await client.get(path, params=params, headers=person.headers)
            assert r.status_code == 200, r.text
            page = r.json()
            pages += 1
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == sorted(made, reverse=True)
        assert pages == 3
    # filters hold across pages
    seen, cursor = [], None
    while True:
        params = {"limit": 2, "area_id": ids[G2], **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/reports", params=params, headers=dispatcher.headers)
        ).json()
        seen += [i["id"] for i in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == sorted(made[1::2], reverse=True)


async def walk(client, person: Person, **params) -> list[dict]:
    """Every page of the list, two at a time."""
    seen, cursor = [], None
    while True:
        page_params = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/api/v1/reports", params=page_params, headers=person.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return seen


async def test_sorted_by_nearest_deadline_or_oldest_across_pages(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    start = datetime.now(UTC)
    made = {}
    for hours in (3, 0, 1, 2, 5):  # triage is due an hour after each submission
        clock.set_clock(lambda h=hours: start + timedelta(hours=h))
        made[hours] = (await file_report(client, later(resident)))["id"]
    clock.set_clock(lambda: start + timedelta(hours=6))
    dispatcher = later(dispatcher)
    await act(client, dispatcher, made[2], action="reject", reason="不属实")

    by_due = await walk(client, dispatcher, sort="due")
    assert [i["id"] for i in by_due] == [made[h] for h in (0, 1, 3, 5, 2)]
    assert by_due[-1]["due_at"] is None  # a case without a deadline comes last
    assert [i["id"] for i in await walk(client, dispatcher, sort="oldest")] == sorted(made.values())
    assert [i["id"] for i in await walk(client, dispatcher, sort="due", status="submitted")] == [
        made[h] for h in (0, 1, 3, 5)
    ]

    r = await client.get("/api/v1/reports", params={"sort": "sideways"}, headers=dispatcher.headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    newest_cursor = (
        await client.get("/api/v1/reports", params={"limit": 1}, headers=dispatcher.headers)
    ).json()["next_cursor"]
    r = await client.get(
        "/api/v1/reports",
        params={"sort": "due", "cursor": newest_cursor},
        headers=dispatcher.headers,
    )
    assert r.status_code == 422  # a cursor of another order is refused, not misread


async def test_urgent_first_then_nearest_deadline_across_pages(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    start = datetime.now(UTC)
    made = {}
    for hours, urgent in ((3, False), (0, False), (1, True), (2, False), (5, True), (4, True)):
        clock.set_clock(lambda h=hours: start + timedelta(hours=h))
        made[hours] = (await file_report(client, later(resident), urgent=urgent))["id"]
    clock.set_clock(lambda: start + timedelta(hours=6))
    dispatcher = later(dispatcher)
    await act(client, dispatcher, made[5], action="reject", reason="不属实")  # urgent, no deadline
    await act(client, dispatcher, made[2], action="reject", reason="不属实")  # no deadline

    walked = await walk(client, dispatcher, sort="urgent")  # two a page: cursors inside a group
    assert [i["id"] for i in walked] == [made[h] for h in (1, 4, 5, 0, 3, 2)]
    assert [i["urgent"] for i in walked] == [True, True, True, False, False, False]
    # the same order as sorting the unordered list by (not urgent, no deadline, deadline, id)
    every = await walk(client, dispatcher)

    def key(i: dict) -> tuple:
        return (not i["urgent"], i["due_at"] is None, i["due_at"] or "", i["id"])

    assert [i["id"] for i in walked] == [i["id"] for i in sorted(every, key=key)]
    urgent_open = await walk(client, dispatcher, sort="urgent", status="submitted")
    assert [i["id"] for i in urgent_open] == [made[h] for h in (1, 4, 0, 3)]
    due_cursor = (
        await client.get(
            "/api/v1/reports", params={"limit": 1, "sort": "due"}, headers=dispatcher.headers
        )
    ).json()["next_cursor"]
    r = await client.get(
        "/api/v1/reports",
        params={"sort": "urgent", "cursor": due_cursor},
        headers=dispatcher.headers,
    )
    assert r.status_code == 422


async def test_due_on_a_local_day(client):
    await make_tree()
    resident = await make_person()
    dispatcher = await make_person(("dispatcher", "500103001"))
    zone = get_settings().zone
    day = (datetime.now(UTC) + timedelta(days=1)).astimezone(zone).date()
    midnight = datetime.combine(day, datetime.min.time(), zone)
    made = {}
    # triage is due an hour after submission: 11:00, 23:59 and, past midnight, 00:30
    for name, at in (
        ("morning", midnight + timedelta(hours=10)),
        ("late", midnight + timedelta(hours=22, minutes=59)),
        ("next", midnight + timedelta(hours=23, minutes=30)),
    ):
        clock.set_clock(lambda at=at: at.astimezone(UTC))
        made[name] = (await file_report(client, later(resident)))["id"]
    dispatcher = later(dispatcher)
    assert await listing(client, dispatcher, due_on=day.isoformat()) == [
        made["late"],
        made["morning"],
    ]
    next_day = (day + timedelta(days=1)).isoformat()
    assert await listing(client, dispatcher, due_on=next_day) == [made["next"]]
    for params in ({"due_on": "tomorrow"}, {"due_on": "1900-01-01"}):
        r = await client.get("/api/v1/reports", params=params, headers=dispatcher.headers)
        assert r.status_code == 422, params


async def test_dispatched_by_me(client, town):
    _, p, c = town
    disp1, sup = p["disp1"], p["sup"]
    for case in (c["a"], c["b"]):
        await act(client, disp1, case, action="register")
    await act(client, disp1, c["a"], action="dispatch", assignee_id=p["w1"].id)
    await act(client, sup, c["b"], action="dispatch", assignee_id=p["w2"].id)
    assert await listing(client, disp1, dispatched_by="me") == [c["a"]]
    assert await listing(client, sup, dispatched_by="me") == [c["b"]]
    assert await listing(client, p["disp2"], dispatched_by="me") == []
    r = await client.get("/api/v1/reports", params={"dispatched_by": "x"}, headers=sup.headers)
    assert r.status_code == 422


async def test_empty_query_values_mean_no_filter(client, town):
    _, p, c = town
    sup = p["sup"]
    everything = await listing(client, sup)
    assert everything == [c["c"], c["b"], c["a"]]
    # what a browser sends for a form left at its defaults
    blank = "assignee_id=&area_id=&from=&created_from=&overdue=&urgent=&level=&status=&sort=&q=&cursor=&limit="
    r = await client.get(f"/api/v1/reports?{blank}", headers=sup.headers)
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == everything
    # a blank value beside a real one: only the real one filters
    r = await client.get("/api/v1/reports?status=&status=rejected&q=+", headers=sup.headers)
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    r = await client.get("/api/v1/reports?category=fire&area_id=", headers=sup.headers)
    assert [i["id"] for i in r.json()["items"]] == [c["b"]]
    # a value that is not blank is still checked
    r = await client.get("/api/v1/reports?assignee_id=abc", headers=sup.headers)
    assert r.status_code == 422


# --- what residents see ------------------------------------------------------------------------


async def test_my_reports_in_plain_language_without_assignees(client, town):
    _, p, c = town
    r1 = p["r1"]
    await act(client, p["disp1"], c["b"], action="register")
    await act(client, p["disp1"], c["b"], action="dispatch", assignee_id=p["w1"].id)

    page = (await client.get("/api/v1/me/reports", headers=r1.headers)).json()
    assert [(i["id"], i["status"], i["status_text"]) for i in page["items"]] == [
        (c["b"], "dispatched", "已交办给责任人"),
        (c["a"], "submitted", "已提交，等待受理"),
    ]
    assert all(i["assignee_id"] is None for i in page["items"])
    assert page["items"][0]["thumbnail_url"].endswith("/thumbnail")
    assert page["items"][0]["grid_name"] == "第二网格"

    english = await client.get(
        "/api/v1/me/reports", headers={**r1.headers, "Accept-Language": "en-US,en;q=0.9"}
    )
    assert [i["status_text"] for i in english.json()["items"]] == [
        "Assigned to the people responsible",
        "Received, waiting to be reviewed",
    ]
    prefers_zh = await client.get(
        "/api/v1/me/reports", headers={**r1.headers, "Accept-Language": "zh-CN,en;q=0.5"}
    )
    assert prefers_zh.json()["items"][1]["status_text"] == "已提交，等待受理"
    # the general list shows a resident their own cases without staff ids either
    page = (await client.get("/api/v1/reports", headers=r1.headers)).json()
    assert all(i["assignee_id"] is None for i in page["items"])
    # while staff see who has it
    staff = (await client.get("/api/v1/reports", headers=p["disp1"].headers)).json()
    assert {i["id"]: i["assignee_id"] for i in staff["items"]}[c["b"]] == p["w1"].id


async def test_the_reporter_sees_the_public_timeline_without_names(client, town):
    _, p, c = town
    r1, disp1, w1 = p["r1"], p["disp1"], p["w1"]
    await act(client, disp1, c["a"], action="register", note="已受理")
    await act(client, disp1, c["a"], action="relocate", location={"lat": 29.521, "lng": 106.521})
    await act(client, disp1, c["a"], action="dispatch", assignee_id=w1.id)
    await act(client, w1, c["a"], action="acknowledge")

    staff = (await client.get(f"/api/v1/reports/{c['a']}", headers=disp1.headers)).json()
    assert [e["action"] for e in staff["timeline"]] == [
        "submit",
        "register",
        "relocate",
        "dispatch",
        "acknowledge",
    ]
    assert staff["timeline"][1]["actor_id"] == disp1.id
    assert staff["timeline"][1]["actor_name"] == "测试"
    assert staff["assignee_id"] == w1.id
    assert staff["reporter_name"] == "居民甲"

    mine = (await client.get(f"/api/v1/reports/{c['a']}", headers=r1.headers)).json()
    assert [e["action"] for e in mine["timeline"]] == [
        "submit",
        "register",
        "dispatch",
        "acknowledge",
    ]
    for event in mine["timeline"]:
        assert event["actor_id"] is None
        assert event["actor_name"] is None
        assert event["data"] == {}
    assert mine["status_text"] == "正在整改"
    assert mine["assignee_id"] is None
    assert mine["assigned_area_id"] is None
    assert mine["reporter_phone"] is None
    assert mine["actions"] == []
    english = await client.get(
        f"/api/v1/reports/{c['a']}", headers={**r1.headers, "Accept-Language": "en"}
    )
    assert english.json()["status_text"] == "Being fixed"


async def test_the_reporters_phone_is_shown_to_a_dispatcher(client, town):
    _, p, c = town
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["disp1"].headers)
    assert r.json()["reporter_phone"] == p["r1"].phone


async def test_the_reporters_phone_is_masked_for_a_grid_instructor(client, town):
    _, p, c = town
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["instructor"].headers)
    assert r.status_code == 200
    phone = p["r1"].phone
    assert r.json()["reporter_phone"] == f"{phone[:3]}****{phone[-4:]}"


# --- the way there -----------------------------------------------------------------------------


async def test_staff_get_map_links_and_everyone_the_category_name(client, town):
    _, p, c = town
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["disp1"].headers)
    staff = r.json()
    assert [link["app"] for link in staff["navigation"]] == ["amap", "baidu"]
    assert [link["datum"] for link in staff["navigation"]] == ["gcj02", "bd09"]
    assert staff["category_text"] and staff["category_text"] != staff["category"]
    r = await client.get(
        f"/api/v1/reports/{c['a']}", headers={**p["disp1"].headers, "Accept-Language": "en"}
    )
    assert r.json()["category_text"] not in ("", staff["category_text"], staff["category"])
    # the reporter sees the kind in words, but no staff navigation
    r = await client.get(f"/api/v1/reports/{c['a']}", headers=p["r1"].headers)
    assert r.json()["navigation"] == [] and r.json()["category_text"] == staff["category_text"]
