"""Where a case is and what it joined, on the console's case page: a merged case links to the
case it joined (and that case back to it), and the merge form lists the possible duplicates
with their picture, category, description, time and distance."""

from __future__ import annotations

import re

from factories import G1, POINT_IN, T1, file_report, make_person, make_tree

from grid_backend.core.auth import csrf_token_for
from grid_backend.core.security import issue_access_token

SESSION = "console-where-session"


def sign_in(client, person) -> None:
    client.cookies.set("grid_access", issue_access_token(person.id, session=SESSION)[0])


async def act(client, case_id: int, **fields):
    return await client.post(
        f"/console/cases/{case_id}/actions",
        data={"csrf_token": csrf_token_for(f"s:{SESSION}"), **fields},
    )


async def world(client):
    await make_tree()
    resident = await make_person(name="居民甲")
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    lat, lng = POINT_IN[G1]
    first = await file_report(client, resident, description="楼道里燃气味很重")
    second = await file_report(
        client,
        resident,
        photo="flower.jpg",
        description="单元门口有燃气味",
        location={"lat": lat + 40 / 111_320, "lng": lng},
    )
    return resident, dispatcher, first, second


async def test_the_merge_form_describes_each_possible_duplicate(client):
    _, dispatcher, first, second = await world(client)
    sign_in(client, dispatcher)
    page = await client.get(f"/console/cases/{second['id']}")
    assert page.status_code == 200
    listed = page.text[page.text.index('data-testid="duplicates"') :]
    listed = listed[: listed.index("</ul>")]
    assert re.findall(r'data-case="(\d+)"', listed) == [str(first["id"])]
    assert "楼道里燃气味很重" in listed  # its description
    assert "燃气" in listed  # its category, in words
    assert first["photos"][0]["thumbnail_url"] in listed  # its picture
    assert "相距 40 米" in listed  # how far from this case
    assert ">待受理</span>" in listed and ">submitted<" not in listed  # its stage in words
    assert re.search(r"<time>\d\d-\d\d \d\d:\d\d</time>", listed)  # when it was reported


async def test_a_merged_case_links_to_the_case_it_joined_and_back(client):
    resident, dispatcher, first, second = await world(client)
    sign_in(client, dispatcher)
    r = await act(client, second["id"], action="merge", into=str(first["id"]))
    assert r.status_code == 303, r.text

    page = await client.get(f"/console/cases/{second['id']}")
    banner = page.text[page.text.index('data-testid="merged-into"') :]
    banner = banner[: banner.index("</p>")]
    assert f'href="/console/cases/{first["id"]}"' in banner
    assert "楼道里燃气味很重" in banner and "待受理" in banner  # what it joined, in words
    assert f'<a class="joined" href="/console/cases/{first["id"]}">' in page.text  # timeline

    page = await client.get(f"/console/cases/{first['id']}")
    merged_from = page.text[page.text.index('data-testid="merged-from"') :]
    assert f'href="/console/cases/{second["id"]}"' in merged_from[: merged_from.index("</dd>")]

    # the API says the same: the merged case names its target to everyone who sees it, the
    # target lists what joined it to staff only
    api = await client.get(f"/api/v1/reports/{second['id']}", headers=dispatcher.headers)
    assert api.json()["merged_into"] == first["id"]
    api = await client.get(f"/api/v1/reports/{second['id']}", headers=resident.headers)
    assert api.json()["merged_into"] == first["id"]
    api = await client.get(f"/api/v1/reports/{first['id']}", headers=dispatcher.headers)
    assert api.json()["merged_from"] == [second["id"]]
    api = await client.get(f"/api/v1/reports/{first['id']}", headers=resident.headers)
    assert api.json()["merged_from"] == []
