"""The console's case queue and case page: what each person sees, one form per allowed action
posted through the workflow, refusals shown next to their form, bulk dispatch case by case,
and CSRF on every change."""

from __future__ import annotations

import re

from factories import G1, G2, G3, T1, T2, file_report, make_person, make_tree

from grid_backend.core.auth import csrf_token_for
from grid_backend.core.security import issue_access_token

SESSION = "console-cases-session"


def csrf() -> str:
    """The forms' CSRF token: bound to the session of the access cookie `sign_in` sets."""
    return csrf_token_for(f"s:{SESSION}")


def sign_in(client, person) -> None:
    """The console's cookie for a person (as the login form sets it), in one shared session."""
    client.cookies.set("grid_access", issue_access_token(person.id, session=SESSION)[0])


async def status_of(client, person, case_id: int) -> str:
    r = await client.get(f"/api/v1/reports/{case_id}", headers=person.headers)
    return r.json()["status"]


async def act(client, case_id: int, **fields):
    return await client.post(
        f"/console/cases/{case_id}/actions", data={"csrf_token": csrf(), **fields}
    )


async def world(client):
    await make_tree()
    people = {
        "resident": await make_person(name="居民甲"),
        "dispatcher": await make_person(("dispatcher", T1), name="李值班"),
        "worker": await make_person(("grid_worker", G1), name="周网格员", employment="full_time"),
        "neighbour": await make_person(
            ("grid_worker", G2), name="邻网格员", employment="full_time"
        ),
        "other": await make_person(("dispatcher", T2), name="外街道值班"),
    }
    mine = [(await file_report(client, people["resident"]))["id"] for _ in range(3)]
    theirs = (await file_report(client, people["resident"], grid=G3))["id"]
    return people, mine, theirs


async def test_the_queue_shows_the_callers_cases_with_filters(client):
    people, mine, theirs = await world(client)
    sign_in(client, people["dispatcher"])
    page = await client.get("/console/cases")
    assert page.status_code == 200
    shown = {int(x) for x in re.findall(r'data-case="(\d+)"', page.text)}
    assert shown == set(mine)  # not the other township's case
    assert 'name="case_id"' in page.text  # a dispatcher gets the bulk dispatch bar
    assert "周网格员" in page.text  # eligible assignees in the picker

    await act(client, mine[0], action="register", level="general", category="gas")
    page = await client.get("/console/cases", params={"status": "registered"})
    assert {int(x) for x in re.findall(r'data-case="(\d+)"', page.text)} == {mine[0]}
    page = await client.get("/console/cases", params={"status": "open", "q": "燃气"})
    assert {int(x) for x in re.findall(r'data-case="(\d+)"', page.text)} == set(mine)
    page = await client.get("/console/cases", params={"q": "没有这种描述"})
    assert "data-case=" not in page.text

    sign_in(client, people["other"])
    page = await client.get("/console/cases")
    assert {int(x) for x in re.findall(r'data-case="(\d+)"', page.text)} == {theirs}


async def test_the_queue_orders_by_the_chosen_key_across_pages(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    await act(client, mine[1], action="reject", reason="不属实")  # no deadline: last by due

    def ids(text: str) -> list[int]:
        return [int(x) for x in re.findall(r'data-case="(\d+)"', text)]

    assert ids((await client.get("/console/cases")).text) == sorted(mine, reverse=True)
    oldest = await client.get("/console/cases", params={"sort": "oldest"})
    assert ids(oldest.text) == sorted(mine)
    assert '<option value="oldest" selected>' in oldest.text
    by_due = await client.get("/console/cases", params={"sort": "due"})
    assert ids(by_due.text) == [mine[0], mine[2], mine[1]]


async def test_the_case_page_offers_exactly_the_allowed_actions(client):
    people, mine, theirs = await world(client)
    sign_in(client, people["dispatcher"])
    page = await client.get(f"/console/cases/{mine[0]}")
    assert page.status_code == 200
    forms = set(re.findall(r'class="card action-form" data-action="(\w+)"', page.text))
    assert forms == {"register", "reject", "merge", "relocate"}
    # every form carries the session's CSRF token
    tokens = set(re.findall(r'name="csrf_token" value="([^"]*)"', page.text))
    assert tokens == {csrf()}
    assert "/api/v1/media/" in page.text  # thumbnails of the evidence
    assert 'data-action="submit"' in page.text  # the timeline

    sign_in(client, people["worker"])  # grid staff may fix it on the spot, nothing else
    page = await client.get(f"/console/cases/{mine[0]}")
    forms = set(re.findall(r'class="card action-form" data-action="(\w+)"', page.text))
    assert forms == {"fix_on_spot"}
    assert 'enctype="multipart/form-data"' in page.text
    assert 'name="case_id"' not in (await client.get("/console/cases")).text

    sign_in(client, people["dispatcher"])
    missing = await client.get(f"/console/cases/{theirs}")
    assert missing.status_code == 404
    assert "案件不存在" in missing.text


async def test_register_then_dispatch_through_the_forms(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    case = mine[0]
    done = await act(client, case, action="register", level="general", category="fire")
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/cases/{case}?done=register"
    assert await status_of(client, people["dispatcher"], case) == "registered"
    page = await client.get(done.headers["location"])
    assert 'class="flash' in page.text and "已立案" in page.text
    assert 'data-action="dispatch"' in page.text

    # a refusal comes back on the page, next to the form, in Chinese
    refused = await act(
        client, case, action="dispatch", target="assignee", assignee_id=str(people["other"].id)
    )
    assert refused.status_code == 422
    problem = re.search(r'data-problem="dispatch">([^<]+)<', refused.text)
    assert problem and "承办人不在本辖区" in problem.group(1)
    assert await status_of(client, people["dispatcher"], case) == "registered"

    done = await act(
        client,
        case,
        action="dispatch",
        target="assignee",
        assignee_id=str(people["worker"].id),
        due_at="2099-01-02T18:00",
    )
    assert done.status_code == 303, done.text
    r = await client.get(f"/api/v1/reports/{case}", headers=people["dispatcher"].headers)
    body = r.json()
    assert (body["status"], body["assignee_id"]) == ("dispatched", people["worker"].id)
    assert body["rectify_due_at"].startswith("2099-01-02T10:00")  # 18:00 in Shanghai

    # and in English the refusal is in English
    refused = await client.post(
        f"/console/cases/{case}/actions?lang=en", data={"csrf_token": csrf(), "action": "register"}
    )
    assert refused.status_code == 409
    assert "Not possible in the case&#39;s current state" in refused.text


async def test_an_action_needing_a_reason_is_refused_without_one(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    refused = await act(client, mine[1], action="reject", reason="  ")
    assert refused.status_code == 422
    assert re.search(r'data-problem="reject">请填写原因', refused.text)
    done = await act(client, mine[1], action="reject", reason="重复上报", false_report="1")
    assert done.status_code == 303
    assert await status_of(client, people["dispatcher"], mine[1]) == "rejected"


async def test_changes_without_the_csrf_token_are_refused(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    for path, data in (
        (f"/console/cases/{mine[0]}/actions", {"action": "register"}),
        ("/console/cases/dispatch", {"case_id": str(mine[0])}),
    ):
        for token in (None, "forged-token"):
            body = dict(data) if token is None else {**data, "csrf_token": token}
            answer = await client.post(path, data=body)
            assert answer.status_code == 403
    assert await status_of(client, people["dispatcher"], mine[0]) == "submitted"


async def test_bulk_dispatch_reports_each_case(client):
    people, mine, theirs = await world(client)
    sign_in(client, people["dispatcher"])
    for case in mine[:2]:
        await act(client, case, action="register", level="general", category="gas")
    answer = await client.post(
        "/console/cases/dispatch",
        data={
            "csrf_token": csrf(),
            "case_id": [str(mine[0]), str(mine[1]), str(mine[2]), str(theirs)],
            "assignee_id": str(people["worker"].id),
            "due_at": "2099-01-02T18:00",
            "back": "/console/cases?status=registered",
        },
    )
    assert answer.status_code == 200
    results = dict(re.findall(r'data-case="(\d+)" data-ok="(\w+)"', answer.text))
    assert results == {
        str(mine[0]): "true",
        str(mine[1]): "true",
        str(mine[2]): "false",  # still submitted: refused by the workflow
        str(theirs): "false",  # not the caller's township
    }
    assert "当前状态下不能执行该操作" in answer.text
    assert "案件不存在" in answer.text
    assert re.search(r"data-testid=\"bulk-summary\">[^<]*2[^<]*周网格员[^<]*2", answer.text)
    assert 'href="/console/cases?status=registered"' in answer.text
    for case in mine[:2]:
        assert await status_of(client, people["dispatcher"], case) == "dispatched"
    assert await status_of(client, people["dispatcher"], mine[2]) == "submitted"

    nobody = await client.post(
        "/console/cases/dispatch", data={"csrf_token": csrf(), "case_id": str(mine[2])}
    )
    assert nobody.status_code == 422
    assert "请选择承办人" in nobody.text


def shown(text: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-case="(\d+)"', text)]


async def test_the_filter_form_at_its_defaults_shows_every_case(client):
    """What the browser sends when every select and date is left alone."""
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    everything = shown((await client.get("/console/cases")).text)
    defaults = "status=&category=&level=&area_id=&assignee_id=&overdue=&urgent=&from=&to=&q=&sort="
    page = await client.get(f"/console/cases?{defaults}")
    assert page.status_code == 200, page.text
    assert shown(page.text) == everything == sorted(mine, reverse=True)
    # one field chosen among blanks narrows to it
    await act(client, mine[0], action="register", level="general", category="gas")
    page = await client.get(f"/console/cases?{defaults.replace('status=&', 'status=registered&')}")
    assert page.status_code == 200
    assert shown(page.text) == [mine[0]]


async def test_one_click_views_set_the_filters_and_mark_the_current_one(client):
    people, mine, _ = await world(client)
    urgent = (await file_report(client, people["resident"], urgent=True))["id"]
    sign_in(client, people["dispatcher"])
    page = await client.get("/console/cases")
    views = dict(re.findall(r'href="/console/cases\?([^"]+)" data-view="(\w+)"', page.text))
    assert set(views.values()) == {"awaiting", "overdue", "urgent", "due_today", "mine"}
    assert "aria-current" not in page.text.split('data-testid="queue-views"')[1].split("</nav>")[0]
    link = {v: q.replace("&amp;", "&") for q, v in views.items()}

    page = await client.get(f"/console/cases?{link['urgent']}")
    assert shown(page.text) == [urgent]
    assert re.search(r'data-view="urgent" class="view current" aria-current="page"', page.text)
    assert '<option value="true" selected>紧急</option>' in page.text  # the form shows it too

    page = await client.get(f"/console/cases?{link['awaiting']}")
    assert shown(page.text)[0] == urgent  # urgent first, then by the triage deadline
    assert set(shown(page.text)) == {urgent, *mine}
    assert 'data-view="awaiting" class="view current"' in page.text

    await act(client, mine[0], action="register", level="general", category="gas")
    await act(
        client,
        mine[0],
        action="dispatch",
        target="assignee",
        assignee_id=str(people["worker"].id),
    )
    page = await client.get(f"/console/cases?{link['mine']}")
    assert shown(page.text) == [mine[0]]
    page = await client.get(f"/console/cases?{link['due_today']}")
    assert page.status_code == 200
    assert 'data-view="due_today" class="view current"' in page.text


async def test_the_dispatch_picker_puts_the_grids_team_first(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    await act(client, mine[0], action="register", level="general", category="gas")
    page = (await client.get(f"/console/cases/{mine[0]}")).text
    team = page.split('data-testid="team"')[1].split('data-testid="others"')[0]
    others = page.split('data-testid="others"')[1].split("</div>")[0]
    assert "周网格员" in team and "邻网格员" not in team
    assert "邻网格员" in others  # the rest of the township, to be searched
    assert "外街道值班" not in page  # not a field duty, not this township
    assert "在办 0 件" in team


async def test_dispatching_outside_the_grid_asks_for_a_confirmation(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    await act(client, mine[0], action="register", level="general", category="gas")
    fields = {"action": "dispatch", "target": "assignee"}
    refused = await act(client, mine[0], **fields, assignee_id=str(people["neighbour"].id))
    assert refused.status_code == 422
    assert "承办人今天不在该案件所在网格值守" in refused.text
    assert '<p class="outside-confirm">' in refused.text  # shown: a page without scripts asks
    assert await status_of(client, people["dispatcher"], mine[0]) == "registered"
    done = await act(
        client,
        mine[0],
        **fields,
        assignee_id=str(people["neighbour"].id),
        confirm_outside="1",
    )
    assert done.status_code == 303, done.text
    assert await status_of(client, people["dispatcher"], mine[0]) == "dispatched"
    # the grid's own team needs no confirmation, and the JSON API never asks
    await act(client, mine[1], action="register", level="general", category="gas")
    done = await act(client, mine[1], **fields, assignee_id=str(people["worker"].id))
    assert done.status_code == 303
    await act(client, mine[2], action="register", level="general", category="gas")
    r = await client.post(
        f"/api/v1/reports/{mine[2]}/actions",
        json={"action": "dispatch", "assignee_id": people["neighbour"].id},
        headers=people["dispatcher"].headers,
    )
    assert r.status_code == 200, r.text

    # open cases now count on the picker
    sign_in(client, people["dispatcher"])
    extra = (await file_report(client, people["resident"]))["id"]
    await act(client, extra, action="register", level="general", category="gas")
    page = (await client.get(f"/console/cases/{extra}")).text
    team = page.split('data-testid="team"')[1].split('data-testid="others"')[0]
    others = page.split('data-testid="others"')[1]
    assert re.search(r"周网格员.*?在办 1 件", team, re.S)
    assert re.search(r"邻网格员.*?在办 2 件", others, re.S)


async def test_bulk_dispatch_outside_a_grid_asks_for_a_confirmation(client):
    people, mine, _ = await world(client)
    sign_in(client, people["dispatcher"])
    for case in mine[:2]:
        await act(client, case, action="register", level="general", category="gas")
    page = (await client.get("/console/cases?status=registered")).text
    # each person carries the shown cases whose grid they stand in
    assert re.search(
        rf'data-cases="{mine[1]} {mine[0]}|{mine[0]} {mine[1]}"[^>]*>\s*<input[^>]*value="{people["worker"].id}"',
        page,
    )
    body = {
        "csrf_token": csrf(),
        "case_id": [str(mine[0]), str(mine[1])],
        "assignee_id": str(people["neighbour"].id),
        "back": "/console/cases?status=registered",
    }
    refused = await client.post("/console/cases/dispatch", data=body)
    assert refused.status_code == 422
    assert 'data-testid="bulk-confirm"' in refused.text
    assert "邻网格员" in refused.text
    for case in mine[:2]:
        assert await status_of(client, people["dispatcher"], case) == "registered"
    confirmed = await client.post("/console/cases/dispatch", data={**body, "confirm_outside": "1"})
    assert confirmed.status_code == 200
    assert dict(re.findall(r'data-case="(\d+)" data-ok="(\w+)"', confirmed.text)) == {
        str(mine[0]): "true",
        str(mine[1]): "true",
    }


async def test_bulk_dispatch_never_asks_about_another_areas_case(client):
    """A case id of another township in the bulk form is refused like any unseen case, and
    does not make the form ask for an outside-the-grid confirmation (which would tell that the
    case lies in a township where the chosen person serves, outside their grid)."""
    people, mine, theirs = await world(client)
    sign_in(client, people["other"])
    answer = await client.post(
        "/console/cases/dispatch",
        data={
            "csrf_token": csrf(),
            "case_id": [str(theirs), str(mine[0])],
            "assignee_id": str(people["neighbour"].id),  # serves in G2, beside mine[0]'s G1
            "back": "/console/cases",
        },
    )
    assert answer.status_code == 200, answer.text
    assert 'data-testid="bulk-confirm"' not in answer.text
    assert dict(re.findall(r'data-case="(\d+)" data-ok="(\w+)"', answer.text)) == {
        str(theirs): "false",
        str(mine[0]): "false",
    }
    assert await status_of(client, people["dispatcher"], mine[0]) == "submitted"
