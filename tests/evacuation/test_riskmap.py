"""The printable community risk map (风险地图): a PDF on A4 or A3, portrait or landscape, with
the community, its grids, risk points, shelters, routes and each grid's team (phones only when
a manager publishes them), the legend and the report QR code; printed by staff over or inside
the community only, and every print audited."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pypdf
import pytest
from factories import C1, G1, G2, T1

from grid_backend.core.tables import AuditEntry
from grid_backend.settings import get_settings

MM = 72 / 25.4  # PDF points per millimetre
PAPER = {
    ("A4", "portrait"): (210, 297),
    ("A4", "landscape"): (297, 210),
    ("A3", "portrait"): (297, 420),
    ("A3", "landscape"): (420, 297),
}
SCRIPT = "<script>alert(1)</script>"


async def _point(world, by, name: str, lat: float, lng: float, **fields: Any) -> dict:
    body = {"name": name, "type": "landslide", "risk_level": "major", "lat": lat, "lng": lng}
    body.update(fields)
    r = await world.client.post("/api/v1/risk-points", json=body, headers=by.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def _furnished(world) -> dict[str, Any]:
    """C1 with a risk point in each grid, a shelter, a route and G2's leader on duty."""
    slope = await _point(world, world.dispatcher, "石板坡边坡滑坡隐患点", 29.52, 106.52)
    await _point(
        world,
        world.dispatcher,
        "长滨路下穿道易涝点",
        29.58,
        106.53,
        type="flood_underpass",
        risk_level="medium",
    )
    school = await world.shelter(
        name="较场口小学", contact_phone="13800000000", location={"lat": 29.535, "lng": 106.53}
    )
    r = await world.client.post(
        "/api/v1/evacuation-routes",
        json={
            "name": "一号转移路线",
            "area_id": world.areas[C1],
            "points": [
                {"lat": 29.52, "lng": 106.52},
                {"lat": 29.528, "lng": 106.522},
                {"lat": 29.535, "lng": 106.53},
            ],
            "shelter_id": school["id"],
            "from_risk_point_id": slope["id"],
        },
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    leader = await world.person(("grid_leader", G2), name="冉网格长")
    return {"slope": slope, "school": school, "leader": leader}


async def _pdf(world, person, area: str = C1, **params: Any) -> tuple[Any, pypdf.PdfReader]:
    r = await world.client.get(
        f"/api/v1/areas/{world.areas[area]}/risk-map.pdf", params=params, headers=person.headers
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return r, pypdf.PdfReader(io.BytesIO(r.content))


def _text(reader: pypdf.PdfReader) -> str:
    return "".join(page.extract_text() for page in reader.pages)


@pytest.mark.parametrize(("size", "orientation"), list(PAPER))
async def test_each_paper_and_orientation_shows_the_community(world, size, orientation):
    made = await _furnished(world)
    r, reader = await _pdf(world, world.dispatcher, size=size, orientation=orientation)
    if os.environ.get("RISKMAP_KEEP"):  # to look at: the PDFs kept in that folder
        (Path(os.environ["RISKMAP_KEEP"]) / f"toy-{size}-{orientation}.pdf").write_bytes(r.content)
    width, height = PAPER[(size, orientation)]
    box = reader.pages[0].mediabox
    assert abs(float(box.width) - width * MM) < 1 and abs(float(box.height) - height * MM) < 1
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f"risk-map-{C1}-{size}-{orientation}-20260601.pdf" in disposition
    text = _text(reader)
    for expected in (
        "较场口社区风险地图",  # the title
        "解放碑街道",  # where it is
        "第一网格",
        "第二网格",
        "石板坡边坡滑坡隐患点",
        "长滨路下穿道易涝点",
        "较场口小学",
        "容纳 300 人",
        "一号转移路线",
        "图例",  # the legend: levels, types, shelters and routes explained
        "风险等级：重大",
        "滑坡",
        "易涝下穿道",
        "避险点",
        "转移路线",
        "扫码上报隐患或险情",
        "网格长 冉网格长",
        "网格员 周网格员",
        "打印时间 2026-06-01 10:00",
        "数据版本",
    ):
        assert expected in text, (expected, size, orientation)
    # phones are not printed unless a manager publishes them
    assert made["leader"].phone not in text and world.worker.phone not in text
    assert "13800000000" not in text


async def test_a_manager_publishes_the_phones_and_every_print_is_audited(world):
    made = await _furnished(world)
    _, reader = await _pdf(world, world.dispatcher, phones="true")
    text = _text(reader)
    assert f"网格长 冉网格长 {made['leader'].phone}" in text
    assert f"网格员 周网格员 {world.worker.phone}" in text
    assert "13800000000" in text  # the shelter's contact
    # a grid worker prints the map of their community, but may not publish phones
    _, reader = await _pdf(world, world.worker)
    assert "较场口社区风险地图" in _text(reader)
    r = await world.client.get(
        f"/api/v1/areas/{world.areas[C1]}/risk-map.pdf",
        params={"phones": "true"},
        headers=world.worker.headers,
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    rows = (
        await AuditEntry.select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.detail)
        .where(AuditEntry.action == "risk_map.print")
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )
    assert [(a["actor_id"], a["detail"]["phones"]) for a in rows] == [
        (world.dispatcher.id, True),
        (world.worker.id, False),
    ]
    assert rows[0]["detail"]["size"] == "A4" and len(rows[0]["detail"]["digest"]) == 8


async def test_english_maps_and_the_version_follows_the_data(world):
    await _furnished(world)
    r = await world.client.get(
        f"/api/v1/areas/{world.areas[C1]}/risk-map.pdf",
        headers={**world.dispatcher.headers, "Accept-Language": "en"},
    )
    text = _text(pypdf.PdfReader(io.BytesIO(r.content)))
    assert "较场口社区 risk map" in text and "Legend" in text and "Risk level: Major" in text
    first = [a["detail"]["digest"] for a in await _prints()]
    await _point(world, world.dispatcher, "新建工地", 29.57, 106.51, type="construction_site")
    await _pdf(world, world.dispatcher)
    second = [a["detail"]["digest"] for a in await _prints()]
    assert first[0] != second[-1]


async def _prints() -> list[dict]:
    return (
        await AuditEntry.select(AuditEntry.detail)
        .where(AuditEntry.action == "risk_map.print")
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )


async def test_only_staff_of_the_community_print_it(world):
    await _furnished(world)
    url = f"/api/v1/areas/{world.areas[C1]}/risk-map.pdf"
    # another township's dispatcher and a resident: refused
    for person in (world.dispatcher2, world.resident):
        r = await world.client.get(url, headers=person.headers)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", r.text
    assert (await world.client.get(url)).status_code == 401
    # the district's supervisor prints it
    _, reader = await _pdf(world, world.supervisor, size="A3")
    assert "较场口社区风险地图" in _text(reader)
    # only a community has a risk map
    for code in (G1, T1):
        r = await world.client.get(
            f"/api/v1/areas/{world.areas[code]}/risk-map.pdf", headers=world.dispatcher.headers
        )
        assert r.status_code == 422 and r.json()["code"] == "risk_map_not_community"
    r = await world.client.get(
        "/api/v1/areas/999999/risk-map.pdf", headers=world.dispatcher.headers
    )
    assert r.status_code == 404 and r.json()["code"] == "area_not_found"
    r = await world.client.get(url, params={"size": "A5"}, headers=world.dispatcher.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "size"
    r = await world.client.get(url, params={"orientation": "x"}, headers=world.dispatcher.headers)
    assert r.status_code == 422


async def test_an_empty_community_and_names_with_markup_still_print(world):
    # nothing recorded yet: the map says so rather than failing
    _, reader = await _pdf(world, world.dispatcher)
    text = _text(reader)
    assert "较场口社区风险地图" in text and "暂无记录" in text
    await _point(world, world.dispatcher, SCRIPT, 29.52, 106.52)
    _, reader = await _pdf(world, world.dispatcher)
    assert SCRIPT in _text(reader)


async def test_a_missing_font_is_a_clear_503(world, monkeypatch):
    from dataclasses import replace

    broken = replace(get_settings(), pdf_font="/nonexistent/nope.ttc")
    monkeypatch.setattr("grid_backend.core.pdf.get_settings", lambda: broken)
    r = await world.client.get(
        f"/api/v1/areas/{world.areas[C1]}/risk-map.pdf",
        headers={**world.dispatcher.headers, "Accept-Language": "en"},
    )
    assert r.status_code == 503 and r.json()["code"] == "pdf_font_missing"
    assert "GRID_PDF_FONT" in r.json()["detail"]
    assert await AuditEntry.count().where(AuditEntry.action == "risk_map.print") == 0


async def test_the_report_code_leads_to_the_field_app(world, monkeypatch):
    from dataclasses import replace

    from grid_backend.evacuation import riskmap

    _, reader = await _pdf(world, world.dispatcher)
    links = [
        a.get_object()["/A"]["/URI"]
        for a in reader.pages[0].get("/Annots", [])
        if a.get_object().get("/Subtype") == "/Link"
    ]
    # the QR code's own link: the field app's report page for the community, on this server
    assert links == [f"http://testserver/app/report?area={C1}"]
    public = replace(get_settings(), public_url="https://grid.example.cn/")
    monkeypatch.setattr(riskmap, "get_settings", lambda: public)
    assert riskmap.report_link({"code": C1}, base_url="http://10.0.0.5:8000/") == (
        f"https://grid.example.cn/app/report?area={C1}"
    )


async def test_a_crowded_community_continues_on_further_pages(world):
    from grid_backend.areas.tables import Area, RiskPoint

    grid = await Area.select(Area.id, Area.path).where(Area.code == G1).first()
    await RiskPoint.insert(
        *[
            RiskPoint(
                code=f"CROWD-{n}",
                name=f"拥挤点位{n}号",
                type="old_building",
                risk_level="high",
                lat=29.5 + n * 0.0006,
                lng=106.51 + (n % 7) * 0.005,
                grid=grid["id"],
                area_path=grid["path"],
                threatened_households=n,
            )
            for n in range(1, 81)
        ]
    )
    _, reader = await _pdf(world, world.dispatcher)
    assert len(reader.pages) == 2
    first, second = (page.extract_text() for page in reader.pages)
    assert "拥挤点位1号" in first and "80. 拥挤点位80号" in second
    assert second.startswith("较场口社区风险地图（续）")
    assert reader.pages[1].mediabox == reader.pages[0].mediabox
