"""The hazard ledger (隐患台账): every case reported in a period inside an area, one row each,
as CSV (UTF-8 with a BOM, so Excel opens it), an Excel workbook or GeoJSON points for a GIS
(core/geojson.py, docs/gis.md). Read in id batches, so a
large area never sits in memory at once; bounded by MAX_ROWS; every export is audited.

User text never becomes a formula (docs/security.md, "Exports"): the workbook writes every text
cell with write_string and times as real date-times in GRID_TIMEZONE; the CSV passes every text
cell through safe_csv_text."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import xlsxwriter

from grid_backend.core import audit, clock, geojson, i18n, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import DomainError
from grid_backend.hazards import workflow
from grid_backend.hazards.tables import Category, HazardReport, HotlineCall
from grid_backend.people.phones import mask_phone
from grid_backend.settings import get_settings
from grid_backend.stats import labels
from grid_backend.stats.services import day_start, period, scope_paths

MAX_ROWS = 100_000
BATCH = 1000

# (key, Chinese header, English header, Excel column width)
COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("id", "案件编号", "Case", 9),
    ("created_at", "上报时间", "Reported", 17),
    ("channel", "上报渠道", "Channel", 10),
    ("category", "隐患类别", "Category", 14),
    ("level", "隐患等级", "Level", 9),
    ("status", "办理状态", "Status", 9),
    ("urgent", "紧急", "Urgent", 6),
    ("description", "问题描述", "Description", 40),
    ("district", "区县", "District", 10),
    ("township", "镇街", "Township", 12),
    ("community", "村(社区)", "Community", 12),
    ("grid", "网格", "Grid", 12),
    ("grid_code", "网格编码", "Grid code", 17),
    ("lat", "纬度(WGS-84)", "Latitude (WGS-84)", 11),
    ("lng", "经度(WGS-84)", "Longitude (WGS-84)", 11),
    ("reporter", "上报人", "Reporter", 10),
    ("reporter_phone", "上报人电话", "Reporter phone", 13),
    ("assignee", "承办人", "Assignee", 10),
    ("board", "承办板块", "Board", 10),
    ("due_at", "当前期限", "Due", 17),
    ("overdue", "是否超期", "Overdue", 8),
    ("registered_at", "立案时间", "Registered", 17),
    ("dispatched_at", "交办时间", "Dispatched", 17),
    ("acknowledged_at", "签收时间", "Acknowledged", 17),
    ("fixed_at", "整改完成时间", "Fixed", 17),
    ("closed_at", "办结时间", "Closed", 17),
    ("rework_count", "返工次数", "Rework", 8),
    ("supporters", "附议人数", "Supporters", 8),
    ("supervision_responsibility", "督办责任", "Supervision: responsibility", 16),
    ("supervision_deadline", "督办期限", "Supervision: deadline", 17),
)

_SELECT = (
    HazardReport.id,
    HazardReport.created_at,
    HazardReport.channel,
    HazardReport.category,
    HazardReport.level,
    HazardReport.status,
    HazardReport.urgent,
    HazardReport.description,
    HazardReport.district.name.as_alias("district_name"),
    HazardReport.township.name.as_alias("township_name"),
    HazardReport.community.name.as_alias("community_name"),
    HazardReport.grid.name.as_alias("grid_name"),
    HazardReport.grid.code.as_alias("grid_code"),
    HazardReport.lat,
    HazardReport.lng,
    HazardReport.reporter.name.as_alias("reporter_name"),
    HazardReport.reporter.phone.as_alias("reporter_phone"),
    HazardReport.assignee.name.as_alias("assignee_name"),
    HazardReport.board,
    HazardReport.due_at,
    HazardReport.registered_at,
    HazardReport.dispatched_at,
    HazardReport.acknowledged_at,
    HazardReport.fixed_at,
    HazardReport.closed_at,
    HazardReport.rework_count,
    HazardReport.supporters,
    HazardReport.supervision,
)


CALL_CHANNELS = ("hotline_12345", "hotline_12350", "staff")


async def _callers(rows: list[dict[str, Any]]) -> None:
    """A case filed for a caller without an account (the hotline) has the officer as its
    reporter: the ledger names the caller instead (their phone masked, as a reporter's)."""
    filed = [r["id"] for r in rows if r["channel"] in CALL_CHANNELS]
    if not filed:
        return
    calls = (
        await HotlineCall.select(
            HotlineCall.report, HotlineCall.caller_name, HotlineCall.caller_phone
        )
        .where(
            HotlineCall.report.is_in(filed)
            & (HotlineCall.attached == False)  # noqa: E712
            & HotlineCall.caller_account.is_null()
        )
        .run()
    )
    by_case = {c["report"]: c for c in calls}
    for r in rows:
        call = by_case.get(r["id"])
        if call is not None:
            r["reporter_name"] = call["caller_name"]
            r["reporter_phone"] = call["caller_phone"]


class Export:
    """One prepared export: what it covers and how to produce its rows."""

    def __init__(
        self, *, where: Any, rows: int, english: bool, date_from: date, date_to: date
    ) -> None:
        self.where = where
        self.rows = rows
        self.english = english
        self.date_from = date_from
        self.date_to = date_to

    def headers(self) -> list[str]:
        return [en if self.english else zh for _, zh, en, _ in COLUMNS]

    async def batches(self) -> AsyncIterator[list[list[Any]]]:
        """The rows in id order, a batch at a time, as the cells of the columns."""
        categories = await _categories()
        now = clock.now()
        async for rows in self.records():
            await _callers(rows)
            yield [self._cells(r, categories, now) for r in rows]

    async def features(self) -> AsyncIterator[list[geojson.Feature]]:
        """The cases as GeoJSON points, a batch at a time: the ledger's facts with codes beside
        their names, times in ISO-8601 with the offset; no reporter (a map file travels)."""
        categories = await _categories()
        now = clock.now()
        async for rows in self.records():
            yield [self._feature(r, categories, now) for r in rows]

    def _feature(
        self, r: dict[str, Any], categories: dict[str, tuple[str, str]], now: datetime
    ) -> geojson.Feature:
        en = self.english
        supervision = r["supervision"] if isinstance(r["supervision"], dict) else {}
        category = categories.get(r["category"], (r["category"], r["category"]))
        properties = {
            "id": r["id"],
            "created_at": geojson.local_time(r["created_at"]),
            "channel": r["channel"],
            "channel_name": labels.name(labels.CHANNEL, r["channel"], en),
            "category": r["category"],
            "category_name": category[1] if en else category[0],
            "level": r["level"],
            "level_name": labels.name(labels.LEVEL, r["level"], en),
            "status": r["status"],
            "status_name": labels.name(labels.STATUS, r["status"], en),
            "urgent": bool(r["urgent"]),
            "description": r["description"],
            "district": r["district_name"] or "",
            "township": r["township_name"] or "",
            "community": r["community_name"] or "",
            "grid": r["grid_name"] or "",
            "grid_code": r["grid_code"] or "",
            "assignee": r["assignee_name"] or "",
            "board": labels.name(labels.BOARD, r["board"], en),
            "due_at": geojson.local_time(r["due_at"]),
            "overdue": _late(r, now),
            "registered_at": geojson.local_time(r["registered_at"]),
            "dispatched_at": geojson.local_time(r["dispatched_at"]),
            "acknowledged_at": geojson.local_time(r["acknowledged_at"]),
            "fixed_at": geojson.local_time(r["fixed_at"]),
            "closed_at": geojson.local_time(r["closed_at"]),
            "rework_count": r["rework_count"],
            "supporters": r["supporters"],
            "supervision_deadline": geojson.local_time(supervision.get("deadline")),
        }
        return geojson.Feature(id=r["id"], lng=r["lng"], lat=r["lat"], properties=properties)

    async def records(self) -> AsyncIterator[list[dict[str, Any]]]:
        """The cases' rows in id order, BATCH at a time."""
        after = 0
        while True:
            rows = (
                await HazardReport.select(*_SELECT)
                .where(self.where & (HazardReport.id > after))
                .order_by(HazardReport.id)
                .limit(BATCH)
                .output(load_json=True)
                .run()
            )
            if not rows:
                return
            after = rows[-1]["id"]
            yield rows
            if len(rows) < BATCH:
                return

    def _cells(
        self, r: dict[str, Any], categories: dict[str, tuple[str, str]], now: datetime
    ) -> list[Any]:
        """The row's cells as typed values: int/float, str, a naive local datetime, or None."""
        en = self.english
        zone = get_settings().zone
        yes, no = ("yes", "no") if en else ("是", "否")

        def when(value: Any) -> datetime | None:
            if value is None or value == "":
                return None
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if value.tzinfo is None:  # stored times are UTC
                value = value.replace(tzinfo=UTC)
            # naive wall-clock time in the configured zone: what Excel and a reader expect
            return value.astimezone(zone).replace(tzinfo=None)

        supervision = r["supervision"] if isinstance(r["supervision"], dict) else {}
        late = _late(r, now)
        category = categories.get(r["category"], (r["category"], r["category"]))
        values = {
            "id": r["id"],
            "created_at": when(r["created_at"]),
            "channel": labels.name(labels.CHANNEL, r["channel"], en),
            "category": category[1] if en else category[0],
            "level": labels.name(labels.LEVEL, r["level"], en),
            "status": labels.name(labels.STATUS, r["status"], en),
            "urgent": yes if r["urgent"] else no,
            "description": r["description"],
            "district": r["district_name"] or "",
            "township": r["township_name"] or "",
            "community": r["community_name"] or "",
            "grid": r["grid_name"] or "",
            "grid_code": r["grid_code"] or "",
            "lat": round(r["lat"], 6),
            "lng": round(r["lng"], 6),
            "reporter": r["reporter_name"] or "",
            "reporter_phone": mask_phone(r["reporter_phone"]) if r["reporter_phone"] else "",
            "assignee": r["assignee_name"] or "",
            "board": labels.name(labels.BOARD, r["board"], en),
            "due_at": when(r["due_at"]),
            "overdue": yes if late else no,
            "registered_at": when(r["registered_at"]),
            "dispatched_at": when(r["dispatched_at"]),
            "acknowledged_at": when(r["acknowledged_at"]),
            "fixed_at": when(r["fixed_at"]),
            "closed_at": when(r["closed_at"]),
            "rework_count": r["rework_count"],
            "supporters": r["supporters"],
            "supervision_responsibility": supervision.get("responsibility", ""),
            "supervision_deadline": when(supervision.get("deadline")),
        }
        return [values[key] for key, *_ in COLUMNS]


async def _categories() -> dict[str, tuple[str, str]]:
    return {
        r["code"]: (r["name_zh"], r["name_en"])
        for r in await Category.select(Category.code, Category.name_zh, Category.name_en).run()
    }


def _late(r: dict[str, Any], now: datetime) -> bool:
    return bool(
        r["due_at"] is not None
        and r["status"] in workflow.OPEN
        and r["status"] != "suspended"
        and now > r["due_at"]
    )


async def prepare(
    *,
    grants: list[policy.Grant],
    account_id: int,
    area_path: str | None,
    date_from: date | None,
    date_to: date | None,
    fmt: str,
    crs: str | None = None,
) -> Export:
    """Check the caller may export the area, count the rows (refusing more than MAX_ROWS) and
    audit the export; the export is in the current language (core/i18n)."""
    paths = scope_paths(grants, area_path, "report.export")
    date_from, date_to = period(date_from, date_to)
    where = (
        under(HazardReport.area_path, paths)
        & (HazardReport.created_at >= day_start(date_from))
        & (HazardReport.created_at < day_start(date_to + timedelta(days=1)))
    )
    rows = await HazardReport.count().where(where).run()
    if rows > MAX_ROWS:
        raise DomainError(
            "export_too_large",
            status=422,
            detail="%(rows)s cases: at most %(max_rows)s a file; choose a shorter period",
            params={"rows": rows, "max_rows": MAX_ROWS},
        )
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="report.export",
            object_type="hazard_report",
            area_path=area_path,
            detail={
                "format": fmt,
                **({"crs": crs} if crs else {}),
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "rows": rows,
                "areas": paths,
            },
        )
    return Export(
        where=where, rows=rows, english=i18n.english(), date_from=date_from, date_to=date_to
    )


# A spreadsheet reads a cell starting with one of these as a formula (tab and carriage return
# because Excel strips them and then sees the next character).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_csv_text(value: str) -> str:
    """A text cell that no spreadsheet runs as a formula: OWASP's advice, a leading single quote
    before a cell starting with = + - @ tab or carriage return. The one place every CSV writer
    uses (defusedcsv 3.0 was considered: it leaves "-1", tab and CR alone and rewrites "|")."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_cell(value: Any) -> Any:
    """A typed cell as CSV: numbers stay numbers, times as local "YYYY-MM-DD HH:MM", text made
    safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return safe_csv_text(str(value))


async def csv_chunks(export: Export) -> AsyncIterator[bytes]:
    """The ledger as CSV: a UTF-8 byte order mark, the header row, then the cases."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(h) for h in export.headers()])
    yield "\ufeff".encode() + buffer.getvalue().encode()
    async for batch in export.batches():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([csv_cell(v) for v in cells] for cells in batch)
        yield buffer.getvalue().encode()


# Never let xlsxwriter guess: text is text, whatever it looks like.
WORKBOOK_OPTIONS = {
    "constant_memory": True,  # rows are flushed to disk as they are written
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def write_cell(sheet: Any, row: int, col: int, value: Any, date_format: Any) -> None:
    """One typed cell: write_string for text (never write(), which turns "=..." into a formula),
    write_number, write_datetime for local times, blank for nothing."""
    if value is None or value == "":
        sheet.write_blank(row, col, None)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, date_format)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))


async def xlsx_file(export: Export) -> Path:
    """The ledger as an Excel workbook in a temporary file (the caller deletes it)."""
    handle = tempfile.NamedTemporaryFile(prefix="ledger-", suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    path = Path(handle.name)
    book = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    sheet = book.add_worksheet("隐患台账" if not export.english else "Hazard ledger")
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF5", "border": 1})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for col, (_, _, _, width) in enumerate(COLUMNS):
        sheet.set_column(col, col, width)
    for col, header in enumerate(export.headers()):
        sheet.write_string(0, col, header, bold)
    sheet.freeze_panes(1, 0)
    line = 1
    async for batch in export.batches():
        for cells in batch:
            for col, value in enumerate(cells):
                write_cell(sheet, line, col, value, stamp)
            line += 1
    sheet.autofilter(0, 0, max(line - 1, 1), len(COLUMNS) - 1)
    close: Callable[[], None] = book.close
    await anyio.to_thread.run_sync(close)
    return path


def filename(export: Export, area_code: str | None, fmt: str) -> str:
    """An ASCII file name naming the area and the period."""
    area = f"-{area_code}" if area_code else ""
    return f"hazard-ledger{area}-{export.date_from:%Y%m%d}-{export.date_to:%Y%m%d}.{fmt}"
