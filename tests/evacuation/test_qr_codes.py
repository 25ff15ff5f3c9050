"""QR codes at risk points and grids (扫码报灾): a random token that cannot be guessed or
altered, revoked by reissuing or by hand, scans counted, the scan sends the phone to the report
page with the place and category, the report made from it is recorded as such; the pictures
decode to the code's address and the printed sheet is an A4 PDF with the names as text. Kept by
the managers and risk-point keepers of the area, nobody else."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pypdf
import pytest
import segno
import zxingcpp
from factories import C1, C2, G1, G2, G3, POINT_IN, T1, upload_photo
from PIL import Image

from grid_backend.core import pdf
from grid_backend.core.tables import AuditEntry
from grid_backend.hazards.tables import HazardEvent
from grid_backend.settings import get_settings

SCRIPT = "<script>alert(1)</script>"


async def risk_point(world, name: str = "较场口边坡", type: str = "landslide", grid: str = G1):
    lat, lng = POINT_IN[grid]
    r = await world.client.post(
        "/api/v1/risk-points",
        json={"name": name, "type": type, "risk_level": "high", "lat": lat, "lng": lng},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


async def issue(world, target: str, target_id: int, by=None):
    r = await world.client.post(
        "/api/v1/qr-codes",
        json={"target": target, "target_id": target_id},
        headers=(by or world.dispatcher).headers,
    )
    assert r.status_code == 201, r.text
    return r.json()


def token_of(code) -> str:
    return code["url"].rsplit("/q/", 1)[1]


async def scan(world, token: str):
    return await world.client.get(f"/q/{token}")  # no account: the code is public


def query_of(response) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith("/app/report?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def read(world, code):
    r = await world.client.get(f"/api/v1/qr-codes/{code['id']}", headers=world.dispatcher.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def report_from(world, query: dict[str, str], **extra):
    body = {
        "category": query.get("category", "other"),
        "description": "坡顶有裂缝",
        "location": {"lat": float(query["lat"]), "lng": float(query["lng"]), "source": "qr"},
        "photo_ids": [await upload_photo(world.client, world.resident)],
        "reporter_safe": True,
        "qr": query["qr"],
    }
    body.update(extra)
    r = await world.client.post("/api/v1/reports", json=body, headers=world.resident.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_scan_is_counted_and_opens_the_report_page_with_the_place_and_category(world):
    point = await risk_point(world)
    code = await issue(world, "risk_point", point["id"])
    assert code["target"] == "risk_point" and code["target_id"] == point["id"]
    assert code["name"] == "较场口边坡" and code["category"] == "landslide"
    assert code["place"] == "渝中区 / 解放碑街道 / 较场口社区 / 第一网格"
    assert code["grid"]["code"] == G1 and code["scans"] == 0 and code["revoked"] is False
    assert code["created_by"] == world.dispatcher.id
    token = token_of(code)
    assert code["url"] == f"http://testserver/q/{token}"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", token)  # 128 random bits, no id in it
    assert str(code["id"]) not in token or len(token) == 22

    r = await scan(world, token)
    assert r.status_code == 303
    assert r.headers["cache-control"] == "no-store"  # every scan reaches the server
    query = query_of(r)
    assert query["qr"] == token and query["category"] == "landslide"
    assert query["place"] == "较场口边坡"
    assert (float(query["lat"]), float(query["lng"])) == pytest.approx(POINT_IN[G1])
    first = await read(world, code)
    assert first["scans"] == 1 and first["last_scanned_at"] is not None

    # scans at once are each counted (one atomic increment)
    answers = await asyncio.gather(*[scan(world, token) for _ in range(8)])
    assert {a.status_code for a in answers} == {303}
    assert (await read(world, code))["scans"] == 9

    # the report made from it says so: channel qr, and the code on its first event
    case = await report_from(world, query)
    assert case["channel"] == "qr" and case["category"] == "landslide"
    assert case["grid"]["code"] == G1
    event = (
        await HazardEvent.select(HazardEvent.data)
        .where(HazardEvent.report == case["id"], HazardEvent.action == "submit")
        .output(load_json=True)
        .first()
    )
    assert event["data"]["qr_code_id"] == code["id"]
    # without a code, or with one that does not work, it is an ordinary report
    plain = await world.report(world.resident)
    assert plain["channel"] == "resident_app"
    forged = await report_from(
        world, {**query, "qr": token[:-1] + ("A" if token[-1] != "A" else "B")}
    )
    assert forged["channel"] == "resident_app"


async def test_a_changed_or_made_up_token_opens_a_page_saying_so(world):
    point = await risk_point(world)
    code = await issue(world, "risk_point", point["id"])
    token = token_of(code)
    for wrong in (
        token[:-1] + ("x" if token[-1] != "x" else "y"),  # one character changed
        ("Z" if token[0] != "Z" else "Y") + token[1:],
        token[:-1],  # one short
        token + "a",
        str(code["id"]),  # the id is not a code
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "a" * 200,
    ):
        r = await scan(world, wrong)
        assert r.status_code == 404, wrong
        assert r.headers["content-type"].startswith("text/html")
        assert "此二维码无效" in r.text  # Chinese by default
        assert "<script>alert" not in r.text and "Traceback" not in r.text
    r = await world.client.get(f"/q/{token[:-1]}x?lang=en")
    assert "This code is not valid" in r.text
    assert (await read(world, code))["scans"] == 0  # nothing counted


async def test_reissuing_revokes_the_old_code_and_a_revoked_code_is_refused(world):
    point = await risk_point(world)
    old = await issue(world, "risk_point", point["id"])
    new = await issue(world, "risk_point", point["id"])
    assert token_of(new) != token_of(old)
    assert (await read(world, old))["revoked"] is True
    r = await scan(world, token_of(old))
    assert r.status_code == 410 and "此二维码已停用" in r.text
    r = await world.client.get(f"/q/{token_of(old)}", params={"lang": "en"})
    assert "This code has been withdrawn" in r.text
    assert (await scan(world, token_of(new))).status_code == 303

    url = f"/api/v1/qr-codes/{new['id']}"
    r = await world.client.delete(url, headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.json()["revoked"] is True
    revoked_at = r.json()["revoked_at"]
    r = await world.client.delete(url, headers=world.supervisor.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] == revoked_at  # unchanged
    assert (await scan(world, token_of(new))).status_code == 410
    # a report made from the page opened before the code was withdrawn is still taken
    case = await report_from(world, {"qr": token_of(new), "lat": "29.52", "lng": "106.52"})
    assert case["channel"] == "resident_app"

    rows = (
        await AuditEntry.select(AuditEntry.action, AuditEntry.actor_id, AuditEntry.detail)
        .where(AuditEntry.object_type == "qr_code")
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )
    assert [(a["action"], a["actor_id"]) for a in rows] == [
        ("qr_code.issue", world.dispatcher.id),
        ("qr_code.issue", world.dispatcher.id),
        ("qr_code.revoke", world.dispatcher.id),
    ]
    assert rows[1]["detail"]["revoked"] == [old["id"]]


async def test_a_retired_risk_points_code_is_withdrawn(world):
    point = await risk_point(world)
    code = await issue(world, "risk_point", point["id"])
    r = await world.client.delete(
        f"/api/v1/risk-points/{point['id']}", headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    r = await scan(world, token_of(code))
    assert r.status_code == 410 and "此二维码已停用" in r.text


async def test_a_grids_code_opens_the_report_page_inside_the_grid(world):
    code = await issue(world, "grid", world.areas[G2])
    assert code["name"] == "第二网格" and code["category"] is None
    query = query_of(await scan(world, token_of(code)))
    assert query["place"] == "第二网格" and "category" not in query
    lat, lng = float(query["lat"]), float(query["lng"])
    assert 29.55 <= lat <= 29.60 and 106.50 <= lng <= 106.55  # G2's box
    case = await report_from(world, query, category="flooding")
    assert case["channel"] == "qr" and case["grid"]["code"] == G2


async def test_the_code_as_svg_and_png_holds_its_address(world):
    point = await risk_point(world)
    code = await issue(world, "risk_point", point["id"])
    base = f"/api/v1/qr-codes/{code['id']}"
    r = await world.client.get(f"{base}/code.svg", headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    root = ElementTree.fromstring(r.content)  # noqa: S314  # our own server's answer
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    svg = r.content
    r = await world.client.get(f"{base}/code.png", headers=world.dispatcher.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.format == "PNG" and image.width == image.height >= 200
    decoded = zxingcpp.read_barcodes(image.convert("L"))
    assert [d.text for d in decoded] == [code["url"]]
    assert decoded[0].format == zxingcpp.BarcodeFormat.QRCode
    # the SVG draws the matrix segno makes for the address (the PNG's was decoded above)
    qr = segno.make_qr(code["url"], error="m", boost_error=True)
    assert qr.error in ("M", "Q", "H")
    same = io.BytesIO()
    qr.save(same, kind="svg", scale=8, border=4, xmldecl=True, svgns=True)
    assert svg == same.getvalue()
    # other people's codes are not served
    r = await world.client.get(f"{base}/code.png", headers=world.dispatcher2.headers)
    assert r.status_code == 404 and r.json()["code"] == "qr_code_not_found"


async def test_the_printed_sheet_is_an_a4_pdf_with_the_names(world):
    await risk_point(world, name="较场口边坡")
    await risk_point(world, name="第二网格下穿道", type="flood_underpass", grid=G2)
    r = await world.client.post(
        "/api/v1/qr-codes/issue-all",
        json={"area_id": world.areas[C1]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"issued": 4, "live": 4}  # two grids, two risk points
    r = await world.client.post(
        "/api/v1/qr-codes/issue-all",
        json={"area_id": world.areas[C1]},
        headers=world.dispatcher.headers,
    )
    assert r.json() == {"issued": 0, "live": 4}  # those with a code keep it

    r = await world.client.get(
        "/api/v1/qr-codes/sheet.pdf",
        params={"area_id": world.areas[C1]},
        headers=world.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    document = pypdf.PdfReader(io.BytesIO(r.content))
    assert len(document.pages) == 1
    page = document.pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(
        (595.28, 841.89), abs=0.1
    )  # A4 in points
    text = page.extract_text()
    for name in ("较场口边坡", "第二网格下穿道", "第一网格", "第二网格", "较场口社区", "扫码上报"):
        assert name in text, name
    assert len(page.images) == 4  # one code each


async def test_issuing_at_once_leaves_one_working_code_per_place(world):
    point = await risk_point(world)

    async def one(body):
        return await world.client.post(
            "/api/v1/qr-codes", json=body, headers=world.dispatcher.headers
        )

    async def every():
        return await world.client.post(
            "/api/v1/qr-codes/issue-all",
            json={"area_id": world.areas[C1]},
            headers=world.dispatcher.headers,
        )

    answers = await asyncio.gather(
        *[one({"target": "risk_point", "target_id": point["id"]}) for _ in range(3)],
        *[one({"target": "grid", "target_id": world.areas[G1]}) for _ in range(3)],
        every(),
        every(),
    )
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    r = await world.client.get(
        "/api/v1/qr-codes", params={"area_id": world.areas[C1]}, headers=world.dispatcher.headers
    )
    live = sorted((c["target"], c["target_id"]) for c in r.json()["items"])
    assert live == sorted(
        [("risk_point", point["id"]), ("grid", world.areas[G1]), ("grid", world.areas[G2])]
    )


async def test_a_missing_font_is_a_clear_error(world, monkeypatch):
    missing = replace(get_settings(), pdf_font="/nonexistent/font.ttc")
    monkeypatch.setattr(pdf, "get_settings", lambda: missing)
    r = await world.client.get(
        "/api/v1/qr-codes/sheet.pdf",
        params={"area_id": world.areas[C1]},
        headers={**world.dispatcher.headers, "Accept-Language": "en"},
    )
    assert r.status_code == 503
    assert r.json()["code"] == "pdf_font_missing"
    assert "/nonexistent/font.ttc" in r.json()["detail"] and "GRID_PDF_FONT" in r.json()["detail"]


async def test_codes_are_listed_by_area_and_page(world):
    point = await risk_point(world)
    first = await issue(world, "grid", world.areas[G1])
    second = await issue(world, "risk_point", point["id"])
    third = await issue(world, "risk_point", point["id"])  # revokes the second
    url = "/api/v1/qr-codes"
    r = await world.client.get(
        url, params={"area_id": world.areas[C1], "limit": 1}, headers=world.dispatcher.headers
    )
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["items"]] == [first["id"]]
    cursor = r.json()["next_cursor"]
    r = await world.client.get(
        url,
        params={"area_id": world.areas[C1], "limit": 1, "cursor": cursor},
        headers=world.dispatcher.headers,
    )
    assert [c["id"] for c in r.json()["items"]] == [third["id"]]
    assert r.json()["next_cursor"] is None
    r = await world.client.get(
        url,
        params={"area_id": world.areas[C1], "revoked": "true"},
        headers=world.dispatcher.headers,
    )
    assert [c["id"] for c in r.json()["items"]] == [second["id"]]
    r = await world.client.get(
        url, params={"area_id": world.areas[G2]}, headers=world.dispatcher.headers
    )
    assert r.json()["items"] == []


async def test_only_the_keepers_of_the_area_issue_revoke_and_list(world):
    point = await risk_point(world)
    code = await issue(world, "risk_point", point["id"])
    other_worker = await world.person(("grid_worker", G3), name="朝东网格员")
    other_leader = await world.person(("grid_leader", G3), name="朝东网格长")
    leader = await world.person(("grid_leader", G1), name="较场口网格长")
    outsiders = [other_worker, other_leader, world.dispatcher2, world.worker, world.resident]
    for person in outsiders:
        r = await world.client.post(
            "/api/v1/qr-codes",
            json={"target": "risk_point", "target_id": point["id"]},
            headers=person.headers,
        )
        assert r.status_code == 403, person
        r = await world.client.post(
            "/api/v1/qr-codes/issue-all", json={"area_id": world.areas[C1]}, headers=person.headers
        )
        assert r.status_code == 403
        r = await world.client.get(
            "/api/v1/qr-codes", params={"area_id": world.areas[C1]}, headers=person.headers
        )
        assert r.status_code == 403
        r = await world.client.get(
            "/api/v1/qr-codes/sheet.pdf",
            params={"area_id": world.areas[C1]},
            headers=person.headers,
        )
        assert r.status_code == 403
        r = await world.client.delete(f"/api/v1/qr-codes/{code['id']}", headers=person.headers)
        assert r.status_code == 404 and r.json()["code"] == "qr_code_not_found"
    assert (await read(world, code))["revoked"] is False
    # the grid leader keeps the codes of their grid (as its risk points), not the neighbour's
    mine = await issue(world, "grid", world.areas[G1], by=leader)
    assert mine["grid"]["code"] == G1
    r = await world.client.post(
        "/api/v1/qr-codes",
        json={"target": "grid", "target_id": world.areas[G2]},
        headers=leader.headers,
    )
    assert r.status_code == 403
    # the other township's dispatcher keeps theirs
    theirs = await issue(world, "grid", world.areas[G3], by=world.dispatcher2)
    r = await world.client.get(
        "/api/v1/qr-codes", params={"area_id": world.areas[C2]}, headers=world.dispatcher.headers
    )
    assert r.status_code == 403
    assert (await scan(world, token_of(theirs))).status_code == 303


async def test_bad_input_is_a_clear_problem(world):
    headers = world.dispatcher.headers
    cases = [
        ({"target": "risk_point", "target_id": 999999}, "risk_point_not_found", "target_id"),
        ({"target": "grid", "target_id": world.areas[C1]}, "area_not_found", "target_id"),
        ({"target": "shelter", "target_id": 1}, "validation_failed", None),
        ({"target": "grid", "target_id": SCRIPT}, "validation_failed", None),
    ]
    for body, code, field in cases:
        r = await world.client.post("/api/v1/qr-codes", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == code
        if field:
            assert r.json()["errors"][0]["field"] == field
    r = await world.client.post(
        "/api/v1/qr-codes/issue-all", json={"area_id": world.areas[T1]}, headers=headers
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "area_id"
    r = await world.client.get("/api/v1/qr-codes", params={"area_id": 999999}, headers=headers)
    assert r.status_code == 404 and r.json()["code"] == "area_not_found"
    r = await world.client.get("/api/v1/qr-codes", headers=headers)
    assert r.status_code in (400, 422)
    # a report's qr field is bounded and a script in it is only a token that finds nothing
    case = await report_from(world, {"qr": SCRIPT, "lat": "29.52", "lng": "106.52"})
    assert case["channel"] == "resident_app"
    assert (await AuditEntry.count().where(AuditEntry.object_type == "qr_code")) == 0
