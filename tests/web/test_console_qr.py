"""The console's QR code page: offered to those who keep the codes (qr.manage), its areas are
the caller's communities (and a grid keeper's grid), each grid followed by its risk points with
their working code or none, twenty grids to a page; revoked codes on request; the names of
places only as escaped text; a 403 page for others."""

from __future__ import annotations

import re

from factories import C1, C2, G1, G2, G3, POINT_IN, T1, T2, make_person, make_tree

from grid_backend.areas.tables import Area

SCRIPT = '<img src=x onerror="window.__xss=1">'


async def point(client, person, name: str, grid: str = G1) -> dict:
    lat, lng = POINT_IN[grid]
    r = await client.post(
        "/api/v1/risk-points",
        json={"name": name, "type": "landslide", "risk_level": "high", "lat": lat, "lng": lng},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def row_of(page: str, key: str) -> str:
    found = re.search(rf'<tr data-place="{key}"[^>]*>(.*?)</tr>', page, re.S)
    assert found, key
    return found.group(1)


async def test_a_dispatcher_sees_each_place_with_its_code_or_none(client):
    ids = await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    client.cookies.set("grid_access", dispatcher.token)
    slope = await point(client, dispatcher, "边坡" + SCRIPT)
    bare = await point(client, dispatcher, "下穿道")
    other = await make_person(("dispatcher", T2))
    elsewhere = await point(client, other, "别处", grid=G3)
    r = await client.post(
        "/api/v1/qr-codes",
        json={"target": "risk_point", "target_id": slope["id"]},
        headers=dispatcher.headers,
    )
    code = r.json()

    page = await client.get("/console/qr")
    assert page.status_code == 200, page.text
    assert '<a href="/console/qr" aria-current="page">二维码管理</a>' in page.text
    # the areas: the township's communities (one here: no picker), not another's
    c1 = await Area.select(Area.name).where(Area.id == ids[C1]).first()
    assert f"<h1>二维码管理 · {c1['name']}</h1>" in page.text
    assert 'name="area_id"' not in page.text
    row = row_of(page.text, f"risk_point-{slope['id']}")
    assert f'src="/api/v1/qr-codes/{code["id"]}/code.svg"' in row
    assert "边坡&lt;img src=x" in row and SCRIPT not in page.text  # escaped, never markup
    assert "李值班" in row and "data-revoke" in row and "data-reissue" in row
    assert code["url"] not in page.text  # the token is never printed
    row = row_of(page.text, f"risk_point-{bare['id']}")
    assert "尚未发放二维码" in row and "data-issue" in row and "<img" not in row
    assert f"risk_point-{elsewhere['id']}" not in page.text  # another township's
    # the grids of the community, each before its risk points; missing: 2 grids + 1 point
    places = re.findall(r'data-place="(\w+-\d+)"', page.text)
    assert places == [
        f"grid-{ids[G1]}",
        f"risk_point-{bare['id']}",
        f"risk_point-{slope['id']}",
        f"grid-{ids[G2]}",
    ]
    assert "为未发放的全部生成 (3)" in page.text
    assert f'href="/api/v1/qr-codes/sheet.pdf?area_id={ids[C1]}"' in page.text

    english = await client.get("/console/qr", params={"lang": "en"})
    assert "No code yet" in english.text and "Issue all missing (3)" in english.text

    # revoked codes on request: none yet, then the one revoked
    page = await client.get("/console/qr", params={"revoked": "true", "lang": "zh-CN"})
    assert 'data-testid="qr-empty"' in page.text and "本区域没有已停用的二维码" in page.text
    await client.delete(f"/api/v1/qr-codes/{code['id']}", headers=dispatcher.headers)
    page = await client.get("/console/qr", params={"revoked": "true", "lang": "zh-CN"})
    assert f'data-code="{code["id"]}"' in page.text and "边坡&lt;img" in page.text


async def test_the_places_come_twenty_grids_to_a_page(client):
    ids = await make_tree()
    community = await Area.select(Area.path).where(Area.id == ids[C1]).first()
    for n in range(25):
        await Area.insert(
            Area(
                code=f"{C1}9{n:02d}",
                name=f"加网格{n}",
                level="grid",
                path=community["path"] + f"{C1}9{n:02d}/",
                parent=ids[C1],
            )
        ).run()
    leader = await make_person(("dispatcher", T1))
    client.cookies.set("grid_access", leader.token)
    first = await client.get("/console/qr")
    grids = re.findall(r'data-place="grid-(\d+)"', first.text)
    assert len(grids) == 20
    cursor = re.search(r'cursor=([\w-]+)" data-testid="next-page"', first.text)
    assert cursor
    second = await client.get("/console/qr", params={"cursor": cursor.group(1)})
    more = re.findall(r'data-place="grid-(\d+)"', second.text)
    assert len(more) == 7 and not set(more) & set(grids)  # 2 of the tree + 25 added
    assert 'data-testid="next-page"' not in second.text and "第一页" in second.text
    assert (await client.get("/console/qr", params={"cursor": "x"})).status_code == 422


async def test_a_grid_keeper_sees_their_grid_and_others_get_the_403_page(client):
    ids = await make_tree()
    officer = await make_person(("emergency_officer", G2))
    client.cookies.set("grid_access", officer.token)
    page = await client.get("/console/qr", params={"area_id": ids[C2]})  # not theirs
    assert page.status_code == 200
    assert re.findall(r'data-place="(\w+-\d+)"', page.text) == [f"grid-{ids[G2]}"]

    worker = await make_person(("grid_worker", G1))
    client.cookies.set("grid_access", worker.token)
    dashboard = await client.get("/console/")
    assert 'href="/console/qr"' not in dashboard.text
    page = await client.get("/console/qr")
    assert page.status_code == 403 and 'data-code="forbidden"' in page.text
