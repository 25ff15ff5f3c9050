"""The office's ledger of threatened households (受威胁户台账): real .xlsx files built with
openpyxl, imported all or nothing with every problem listed by row and column, re-imported
without duplicates, exported in the same layout (formula-safe) and imported back unchanged."""

from __future__ import annotations

import io
from typing import Any

import openpyxl
from factories import G1, G2, G3

from grid_backend.core.tables import AuditEntry
from grid_backend.evacuation.ledger import COLUMNS
from grid_backend.evacuation.tables import Household

SCRIPT = "<script>alert(1)</script>"
HEADERS = [c.header for c in COLUMNS]


def workbook(
    rows: list[list[Any]], *, headers: list[str] | None = None, title: bool = False
) -> bytes:
    """An .xlsx ledger: an optional title row, the header row, then the rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "受威胁户"
    if title:
        sheet.append(["解放碑街道受威胁户台账（2026年汛期）"])
    sheet.append(headers or HEADERS)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ledger_row(**cells: Any) -> list[Any]:
    """A ledger row in the template's column order, from column keys."""
    return [cells.get(c.key) for c in COLUMNS]


async def upload(client, person: Any, content: bytes, name: str = "台账.xlsx"):
    return await client.post(
        "/api/v1/households/import",
        files={
            "file": (
                name,
                content,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
        },
        headers=person.headers,
    )


def _rows(hw) -> list[list]:
    return [
        ledger_row(
            grid_code=G1,
            address="较场口社区3组12号",
            head_name="张三",
            head_phone=13812345678,  # typed as a number, as Excel keeps it
            people=4,
            elderly_alone=1,
            children=2,
            helper_phone=hw.worker.phone,
            shelter="较场口小学",
            watch_group="3组第1联防组",
            note="行动不便\n需担架",
        ),
        ledger_row(
            grid_code=int(G2),
            address=SCRIPT,
            head_name="-王五",  # starts like a formula, typed as text
            head_phone="(023) 6386 1234",
            people="3",
            helper_phone=hw.worker2.phone,
            lat=29.58,
            lng=106.52,
        ),
    ]


async def test_a_ledger_is_imported_and_importing_it_again_duplicates_nothing(hw):
    content = workbook(_rows(hw), title=True)  # a title row above the header, as offices do
    r = await upload(hw.client, hw.dispatcher, content)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 2
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (2, 0, 0)
    first, second = r.json()["household_ids"]
    one = (await hw.client.get(f"/api/v1/households/{first}", headers=hw.dispatcher.headers)).json()
    assert (one["head_phone"], one["people"], one["vulnerable"]) == ("13812345678", 4, 3)
    assert one["helper"]["id"] == hw.worker.id and one["shelter"]["id"] == hw.shelter["id"]
    assert one["note"] == "行动不便\n需担架" and one["grid"]["code"] == G1
    two = (
        await hw.client.get(f"/api/v1/households/{second}", headers=hw.dispatcher.headers)
    ).json()
    assert two["address"] == SCRIPT and two["head_name"] == "-王五"  # kept as text
    assert two["head_phone"] == "023-63861234" and two["grid"]["code"] == G2
    assert two["position"]["source"] == "household" and two["shelter"] is None

    # the same ledger again: nothing new, nothing changed
    r = await upload(hw.client, hw.dispatcher, content)
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 2)
    assert r.json()["household_ids"] == [first, second]
    assert await Household.count() == 2
    # a changed cell updates that household only
    rows = _rows(hw)
    rows[0][HEADERS.index("人数")] = 5
    r = await upload(hw.client, hw.dispatcher, workbook(rows))
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 1, 1)
    assert (await Household.select(Household.people).where(Household.id == first))[0]["people"] == 5

    imports = (
        await AuditEntry.select(AuditEntry.actor_id, AuditEntry.detail)
        .where(AuditEntry.action == "household.import")
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )
    assert [a["actor_id"] for a in imports] == [hw.dispatcher.id] * 3
    assert imports[0]["detail"]["created_ids"] == [first, second]
    assert imports[0]["detail"]["filename"] == "台账.xlsx"
    assert imports[2]["detail"]["updated_ids"] == [first]


async def test_every_problem_is_reported_by_row_and_column_and_nothing_is_written(hw):
    good = _rows(hw)
    bad = [
        good[0],  # row 2: fine
        ledger_row(  # row 3: unknown grid, bad phone, people missing
            grid_code="500103009009009",
            address="某地",
            head_name="李四",
            head_phone="12345",
            helper_phone=hw.worker.phone,
        ),
        ledger_row(  # row 4: helper of another grid, unknown shelter, too many elderly
            grid_code=G1,
            address="一组3号",
            head_name="王五",
            head_phone="13712345678",
            people=1,
            elderly_alone=2,
            helper_phone=hw.worker2.phone,
            shelter="不存在的学校",
        ),
        ledger_row(  # row 5: the other township's grid; an unknown helper; not a number
            grid_code=G3,
            address="朝东1号",
            head_name="赵六",
            head_phone="13612345678",
            people="四",
            helper_phone="13000000000",
        ),
        ledger_row(  # row 6: the same household as row 2; missing name; a lone latitude
            grid_code=G1,
            address="较场口社区3组12号",
            head_phone="13812345678",
            people=2,
            helper_phone=hw.worker.phone,
            lat=29.5,
        ),
    ]
    r = await upload(hw.client, hw.dispatcher, workbook(bad), name="bad.xlsx")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "ledger_invalid"
    found = {(e["row"], e["column"], e["code"]) for e in body["errors"]}
    assert found == {
        (3, "网格编码", "grid_unknown"),
        (3, "户主电话", "household_phone_invalid"),
        (3, "人数", "required"),
        (4, "包保责任人电话", "helper_not_on_duty"),
        (4, "避险点", "shelter_not_found"),
        (4, "独居老人", "count_exceeds_people"),
        (5, "网格编码", "grid_outside_area"),
        (5, "包保责任人电话", "helper_unknown"),
        (5, "人数", "not_a_number"),
        (6, "地址", "duplicate_row"),
        (6, "户主姓名", "required"),
        (6, "经度(WGS-84)", "coordinates_incomplete"),
    }, body["errors"]
    assert "12" in body["detail"]
    assert await Household.count() == 0  # not even the good row
    # the messages in the caller's language
    r = await upload(hw.client, hw.dispatcher, workbook(bad), name="bad.xlsx")  # zh-CN by default
    messages = {(e["row"], e["column"]): e["message"] for e in r.json()["errors"]}
    assert messages[(6, "地址")] == "与第 2 行为同一户（网格、地址、户主电话均相同）"
    assert r.json()["title"] == "台账有误，未导入任何数据"


async def test_the_file_and_the_caller_are_checked_first(hw):
    h = hw.dispatcher
    r = await upload(hw.client, h, b"not a workbook at all", name="x.xlsx")
    assert r.status_code == 422 and r.json()["code"] == "ledger_invalid"
    assert r.json()["errors"][0]["code"] == "file_invalid"
    r = await upload(hw.client, h, workbook([], headers=["姓名", "电话"]))
    assert r.json()["errors"][0]["code"] == "header_missing"
    r = await upload(hw.client, h, workbook([["x"]], headers=["网格编码", "地址"]))
    missing = {e["column"] for e in r.json()["errors"] if e["code"] == "column_missing"}
    assert missing == {"户主姓名", "户主电话", "人数", "包保责任人电话"}
    r = await upload(hw.client, h, workbook([]))
    assert r.json()["errors"][0]["code"] == "empty"
    r = await upload(hw.client, h, b"0" * (10 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["code"] == "ledger_too_large"
    r = await hw.client.post(
        "/api/v1/households/import", headers=h.headers, files={"other": ("a", b"b")}
    )
    assert r.status_code == 422
    # grid workers read households but do not import them; residents neither
    for person in (hw.worker, hw.resident):
        r = await upload(hw.client, person, workbook(_rows(hw)))
        assert r.status_code == 403, r.text
    assert await Household.count() == 0


async def test_an_export_is_formula_safe_and_imports_back_unchanged(hw):
    r = await upload(hw.client, hw.dispatcher, workbook(_rows(hw)))
    assert r.status_code == 200, r.text
    r = await hw.client.patch(  # a name that a spreadsheet would run as a formula
        f"/api/v1/households/{r.json()['household_ids'][1]}",
        json={"head_name": "=1+2"},
        headers=hw.dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    await hw.household(
        hw.dispatcher2,
        grid_id=hw.areas[G3],
        helper_id=hw.dispatcher2.id,
        shelter_id=hw.shelter2["id"],
        address="朝东1号",
    )
    r = await hw.client.get("/api/v1/households/export", headers=hw.dispatcher.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert r.headers["x-row-count"] == "2"  # not the other township's
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    by_address = {row[HEADERS.index("地址")]: row for row in rows[1:]}
    assert set(by_address) == {"较场口社区3组12号", SCRIPT}
    scripted = next(
        cells
        for cells in sheet.iter_rows(min_row=2)
        if cells[HEADERS.index("地址")].value == SCRIPT
    )
    name = scripted[HEADERS.index("户主姓名")]
    assert name.value == "=1+2" and name.data_type == "s"  # text, not a formula
    assert scripted[HEADERS.index("户主电话")].value == "023-63861234"
    assert scripted[HEADERS.index("网格编码")].value == G2  # a code, as text
    first = by_address["较场口社区3组12号"]
    assert first[HEADERS.index("包保责任人电话")] == hw.worker.phone
    assert first[HEADERS.index("避险点")] == "较场口小学"
    assert first[HEADERS.index("人数")] == 4

    before = await Household.select().order_by(Household.id)
    r = await upload(hw.client, hw.dispatcher, r.content, name="export.xlsx")
    assert r.status_code == 200, r.text
    assert (r.json()["created"], r.json()["updated"], r.json()["unchanged"]) == (0, 0, 2)
    assert await Household.select().order_by(Household.id) == before

    exports = (
        await AuditEntry.select(AuditEntry.actor_id, AuditEntry.detail)
        .where(AuditEntry.action == "household.export")
        .output(load_json=True)
    )
    assert [(e["actor_id"], e["detail"]["count"]) for e in exports] == [(hw.dispatcher.id, 2)]
    # scoped: the other township's dispatcher exports their own only; residents nothing
    r = await hw.client.get("/api/v1/households/export", headers=hw.dispatcher2.headers)
    assert r.headers["x-row-count"] == "1"
    r = await hw.client.get("/api/v1/households/export", headers=hw.resident.headers)
    assert r.status_code == 403
    r = await hw.client.get(
        "/api/v1/households/export",
        params={"area_id": hw.areas[G3]},
        headers=hw.dispatcher.headers,
    )
    assert r.status_code == 403


async def test_the_template_downloads_and_parses(hw):
    r = await hw.client.get("/api/v1/households/template", headers=hw.worker.headers)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS
    example = dict(zip(HEADERS, rows[1], strict=True))
    assert example["网格编码"] == G1 and example["人数"] == 4
    assert sheet.column_dimensions["C"].width > 30  # the address column is wide
    assert book.sheetnames[1] == "填写说明"
    r = await hw.client.get("/api/v1/households/template", headers=hw.resident.headers)
    assert r.status_code == 403


def _bomb() -> bytes:
    """A zip posing as a workbook whose sheet unpacks to more than 200 MB (a few hundred KB
    packed)."""
    import zipfile

    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part,
    ):
        chunk = b" " * (1024 * 1024)
        for _ in range(201):
            part.write(chunk)
    return out.getvalue()


async def test_bombs_formulas_and_other_grids_are_refused(hw):
    r = await upload(hw.client, hw.dispatcher, _bomb(), name="bomb.xlsx")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["code"] == "file_too_large"
    # a formula is never run: a cell holding one counts by the value Excel saved with it
    # (openpyxl saves none), so a formula address is a missing address
    rows = _rows(hw)
    rows[0][HEADERS.index("地址")] = '=HYPERLINK("http://example.com","点我")'
    r = await upload(hw.client, hw.dispatcher, workbook(rows))
    assert r.status_code == 422
    assert [(e["row"], e["column"], e["code"]) for e in r.json()["errors"]] == [
        (2, "地址", "required")
    ]
    # a grid's leader imports their own grid only
    r = await upload(hw.client, hw.leader, workbook(_rows(hw)))
    assert r.status_code == 422
    assert [(e["row"], e["field"], e["code"]) for e in r.json()["errors"]] == [
        (3, "grid_code", "grid_outside_area")
    ]
    r = await upload(hw.client, hw.leader, workbook(_rows(hw)[:1]))
    assert r.status_code == 200 and r.json()["created"] == 1
    assert await Household.count() == 1


async def test_a_ledger_too_long_or_too_wrong_is_refused_in_bounds(hw, monkeypatch):
    from grid_backend.evacuation import ledger

    monkeypatch.setattr(ledger, "MAX_ROWS", 2)
    rows = [ledger_row(grid_code=G1, address=f"{i}号", head_name="某", people=1) for i in range(3)]
    r = await upload(hw.client, hw.dispatcher, workbook(rows))
    assert r.status_code == 422
    assert [(e["row"], e["code"]) for e in r.json()["errors"]] == [(4, "too_many_rows")]
    # every problem counted, the first MAX_ERRORS listed
    monkeypatch.setattr(ledger, "MAX_ROWS", 50_000)
    monkeypatch.setattr(ledger, "MAX_ERRORS", 3)
    r = await upload(hw.client, hw.dispatcher, workbook(rows))
    assert len(r.json()["errors"]) == 3
    assert r.json()["detail"].startswith("台账有 6 处问题")  # two phones missing on each row
    assert await Household.count() == 0


async def test_a_zip_with_a_broken_directory_is_no_workbook(hw):
    """A file whose end record looks like a zip's but whose central directory is garbage
    (a truncated or corrupted download) is `file_invalid`, not a 500."""
    import struct

    broken = b"X" * 46 + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0)
    r = await upload(hw.client, hw.dispatcher, broken, name="坏的.xlsx")
    assert r.status_code == 422, r.text
    assert [e["code"] for e in r.json()["errors"]] == ["file_invalid"]
    # a real workbook cut short: the end record gone, or the parts' data cut
    whole = workbook(_rows(hw))
    for cut in (whole[: len(whole) // 2], whole[:-10]):
        r = await upload(hw.client, hw.dispatcher, cut, name="cut.xlsx")
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["code"] == "file_invalid"
    assert await Household.count() == 0


async def test_a_ledger_without_the_vulnerable_columns_cannot_leave_more_of_them_than_people(hw):
    """A ledger may leave out the optional vulnerable columns (a stored household keeps its
    counts); lowering 人数 below a count it keeps is a problem of that row, and nothing is
    written, as when the counts are in the sheet."""
    made = await hw.household(people=4, elderly_alone=3, children=0)
    required = [c.header for c in COLUMNS if c.required]
    row = {
        "网格编码": G1,
        "地址": made["address"],
        "户主姓名": made["head_name"],
        "户主电话": made["head_phone"],
        "人数": 2,
        "包保责任人电话": hw.worker.phone,
    }
    r = await upload(
        hw.client, hw.dispatcher, workbook([[row[h] for h in required]], headers=required)
    )
    assert r.status_code == 422, r.text
    assert [(e["row"], e["field"], e["code"]) for e in r.json()["errors"]] == [
        (2, "elderly_alone", "count_exceeds_people")
    ]
    stored = await Household.select(Household.people, Household.elderly_alone).where(
        Household.id == made["id"]
    )
    assert stored == [{"people": 4, "elderly_alone": 3}]
    # enough people for what it keeps: updated, the counts left as they were
    row["人数"] = 3
    r = await upload(
        hw.client, hw.dispatcher, workbook([[row[h] for h in required]], headers=required)
    )
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    stored = await Household.select(Household.people, Household.elderly_alone).where(
        Household.id == made["id"]
    )
    assert stored == [{"people": 3, "elderly_alone": 3}]
