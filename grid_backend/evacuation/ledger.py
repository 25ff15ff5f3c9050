"""The office's ledger of threatened households (受威胁户台账) as an Excel workbook: imported all
or nothing (every problem reported with its row and column, nothing written unless there is
none), exported in the same layout (formula-safe: text is written as text), and a template.

A row is matched to a household already registered by its natural key: grid, address and the
head's phone (retired households excepted). A match is updated (or left unchanged), anything
else is created; households missing from the ledger are left as they are."""

from __future__ import annotations

import re
import tempfile
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import openpyxl
import xlsxwriter

from grid_backend.areas.tables import Area, RiskPoint
from grid_backend.core import audit, clock, i18n, policy
from grid_backend.core.db import under, write_transaction
from grid_backend.core.errors import DomainError, Forbidden, fill, translated
from grid_backend.core.i18n import N_
from grid_backend.core.types import LINE_PATTERN, TEXT_PATTERN
from grid_backend.evacuation.households import (
    count_problems,
    helper_on_duty,
    normalise_head_phone,
    served_paths,
    shelter_serves,
)
from grid_backend.evacuation.schemas import VULNERABLE_KINDS, LedgerImported
from grid_backend.evacuation.services import common_ancestor
from grid_backend.evacuation.tables import Household, Shelter
from grid_backend.people.duty import grants_of
from grid_backend.people.tables import Account

MAX_FILE_BYTES = 10 * 1024 * 1024  # a township's ledger of tens of thousands of rows fits
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # the workbook's parts once unzipped (zip bombs)
MAX_ROWS = 50_000
MAX_ERRORS = 5_000  # an answer listing more would not help anyone fix the file
BATCH = 500
SHEET = "受威胁户"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str  # text, phone, count, number
    required: bool = False
    max_length: int = 0
    width: int = 10
    bounds: tuple[float, float] = (0, 0)
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("grid_code", "网格编码", "text", True, 32, 18),
    Column("risk_point_code", "风险点编号", "text", False, 32, 14),
    Column("address", "地址", "text", True, 200, 36),
    Column("head_name", "户主姓名", "text", True, 64, 10),
    Column("head_phone", "户主电话", "phone", True, 32, 15, aliases=("户主手机",)),
    Column("people", "人数", "count", True, 0, 6, (1, 100), ("户籍人数", "常住人数")),
    Column("elderly_alone", "独居老人", "count", False, 0, 9, (0, 100)),
    Column("disabled", "残疾/卧床", "count", False, 0, 10, (0, 100), ("残疾卧床", "残疾或卧床")),
    Column("children", "幼儿", "count", False, 0, 6, (0, 100)),
    Column("pregnant", "孕妇", "count", False, 0, 6, (0, 100)),
    Column("helper_phone", "包保责任人电话", "phone", True, 32, 15, aliases=("包保责任人手机",)),
    Column("shelter", "避险点", "text", False, 100, 20, aliases=("安置点",)),
    Column("watch_group", "十户联防组", "text", False, 64, 12),
    Column("lat", "纬度(WGS-84)", "number", False, 0, 12, (-90, 90), ("纬度",)),
    Column("lng", "经度(WGS-84)", "number", False, 0, 12, (-180, 180), ("经度",)),
    Column("note", "备注", "text", False, 500, 30),
)
BY_KEY = {c.key: c for c in COLUMNS}
EXAMPLE = {
    "grid_code": "500103001001001",
    "risk_point_code": "",
    "address": "解放碑街道较场口社区3组12号",
    "head_name": "张三",
    "head_phone": "13812345678",
    "people": 4,
    "elderly_alone": 1,
    "disabled": 0,
    "children": 1,
    "pregnant": 0,
    "helper_phone": "13900000000",
    "shelter": "较场口小学",
    "watch_group": "3组第1联防组",
    "lat": None,
    "lng": None,
    "note": "老人行动不便，需担架",
}

# the problems a row may have (errors[].code → message, translated for the caller)
MESSAGES: dict[str, str] = {
    "required": N_("required"),
    "not_a_number": N_("expected a whole number"),
    "not_a_coordinate": N_("expected a number of degrees"),
    "out_of_range": N_("must be between %(min)s and %(max)s"),
    "too_long": N_("at most %(max)s characters"),
    "control_characters": N_("must not contain control characters"),
    "household_phone_invalid": N_(
        "expected a mobile number (138 1234 5678) or a landline with its area code (023-6386 1234)"
    ),
    "helper_phone_invalid": N_("expected the helper's 11-digit mobile number"),
    "grid_unknown": N_("no grid with code %(value)s"),
    "grid_outside_area": N_("grid %(value)s is outside your areas"),
    "helper_unknown": N_("no account with phone %(value)s"),
    "helper_not_on_duty": N_("%(value)s holds no duty in or over grid %(grid)s"),
    "shelter_not_found": N_("no shelter named %(value)s serves grid %(grid)s"),
    "shelter_retired": N_("the shelter %(value)s is retired"),
    "shelter_ambiguous": N_("several shelters named %(value)s serve grid %(grid)s"),
    "risk_point_not_found": N_("no risk point with code %(value)s in your areas"),
    "count_exceeds_people": N_("more than the household's %(people)s people"),
    "coordinates_incomplete": N_("give both latitude and longitude, or neither"),
    "duplicate_row": N_("the same household (grid, address, head's phone) as row %(first)s"),
    "column_missing": N_("the header row has no column %(value)s"),
    "header_missing": N_("no header row with the column 网格编码 in the first 10 rows"),
    "file_invalid": N_("not an Excel workbook (.xlsx)"),
    "file_too_large": N_("the workbook unpacks to more than %(mb)s MB"),
    "too_many_rows": N_("at most %(max)s households in one ledger"),
    "empty": N_("the ledger has no households"),
}


class Problems:
    """Every problem of a ledger, by row and column, in the caller's language."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.count = 0

    def add(self, row: int | None, key: str | None, code: str, **params: Any) -> None:
        self.count += 1
        if len(self.items) >= MAX_ERRORS:
            return
        column = BY_KEY.get(key or "")
        message = MESSAGES[code]
        self.items.append(
            {
                "field": key or "file",
                "row": row,
                "column": column.header if column else key,
                "code": code,
                "message": translated(message, params) or fill(message, params),
            }
        )

    def raise_if_any(self) -> None:
        if self.count:
            raise DomainError(
                "ledger_invalid",
                status=422,
                detail="%(count)s problem(s) in the ledger; nothing was imported",
                params={"count": self.count},
                errors=self.items,
            )


# --- reading the workbook (in a worker thread) ------------------------------------------------


@dataclass
class Sheet:
    header_row: int = 0
    columns: dict[str, int] = field(default_factory=dict)  # key -> 0-based index
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _header_key(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    plain = "".join(text.split()).replace("（", "(").replace("）", ")")
    for c in COLUMNS:
        if plain == c.header or plain in c.aliases:
            return c.key
    return None


def _check_zip(path: Path, problems: Problems) -> bool:
    """An .xlsx is a zip: refuse other files, and bombs, before openpyxl unpacks anything."""
    if not zipfile.is_zipfile(path):
        problems.add(None, None, "file_invalid")
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError):
        # an end record that looks right over a broken directory (a cut or corrupt file)
        problems.add(None, None, "file_invalid")
        return False
    if len(parts) > 1_000 or sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
        problems.add(None, None, "file_too_large", mb=MAX_UNPACKED_BYTES // 1024 // 1024)
        return False
    return True


def read_sheet(path: Path, problems: Problems) -> Sheet:
    """The first sheet's header row (the first of the top ten naming 网格编码) and the
    non-empty rows below it, cells as Excel holds them (formulas by their cached value)."""
    sheet = Sheet()
    if not _check_zip(path, problems):
        return sheet
    # a file object: openpyxl refuses a path without an .xlsx suffix (uploads are spooled)
    with path.open("rb") as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns of parts it skips
                book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception:  # a zip that is no workbook: openpyxl raises whatever it met
            problems.add(None, None, "file_invalid")
            return sheet
        try:
            _read_rows(book.worksheets[0], sheet, problems)
        except Exception:
            problems.add(None, None, "file_invalid")
        finally:
            book.close()
    return sheet


def _read_rows(ws: Any, sheet: Sheet, problems: Problems) -> None:
    width = len(COLUMNS) + 20  # columns further right are never read
    for number, cells in enumerate(ws.iter_rows(max_col=width, values_only=True), start=1):
        if not sheet.header_row:
            keys = [_header_key(v) for v in cells]
            if "grid_code" in keys:
                sheet.header_row = number
                for index, key in enumerate(keys):
                    if key is not None and key not in sheet.columns:
                        sheet.columns[key] = index
            elif number >= 10:
                break
            continue
        values = {
            key: cells[index] if index < len(cells) else None
            for key, index in sheet.columns.items()
        }
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue
        if len(sheet.rows) >= MAX_ROWS:
            problems.add(number, None, "too_many_rows", max=MAX_ROWS)
            return
        sheet.rows.append((number, values))
    if not sheet.header_row:
        problems.add(None, None, "header_missing")
        return
    for c in COLUMNS:
        if c.required and c.key not in sheet.columns:
            problems.add(sheet.header_row, c.key, "column_missing", value=c.header)
    if not sheet.rows and not problems.count:
        problems.add(None, None, "empty")


# --- checking the rows -----------------------------------------------------------------------

_LINE = re.compile(LINE_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)  # the note may run over several lines


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a code or phone typed as a number
    return str(value).strip()


def _cell(c: Column, raw: Any, row: int, problems: Problems) -> Any:
    """One cell as its column's type (None for a blank or a problem, recorded)."""
    if c.kind in ("count", "number"):
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            value = None
        else:
            try:
                value = float(raw.strip() if isinstance(raw, str) else raw)
            except (TypeError, ValueError):
                problems.add(
                    row, c.key, "not_a_number" if c.kind == "count" else "not_a_coordinate"
                )
                return None
            if c.kind == "count":
                if not value.is_integer():
                    problems.add(row, c.key, "not_a_number")
                    return None
                value = int(value)
            if not c.bounds[0] <= value <= c.bounds[1]:
                problems.add(row, c.key, "out_of_range", min=c.bounds[0], max=c.bounds[1])
                return None
        if value is None and c.required:
            problems.add(row, c.key, "required")
        return value
    text = _text(raw)
    if not text:
        if c.required:
            problems.add(row, c.key, "required")
        return ""
    if not (_TEXT if c.key == "note" else _LINE).match(text):
        problems.add(row, c.key, "control_characters")
        return None
    if len(text) > c.max_length:
        problems.add(row, c.key, "too_long", max=c.max_length)
        return None
    if c.kind == "phone":
        phone = normalise_head_phone(text)
        mobile = phone is not None and "-" not in phone
        if phone is None or (c.key == "helper_phone" and not mobile):
            problems.add(
                row,
                c.key,
                "household_phone_invalid" if c.key == "head_phone" else "helper_phone_invalid",
            )
            return None
        return phone
    return text


@dataclass
class Row:
    number: int
    values: dict[str, Any]  # typed cells of the columns present
    ok: bool = True
    grid: dict[str, Any] | None = None
    helper: int | None = None
    shelter: int | None = None
    risk_point: int | None = None


def parse_rows(sheet: Sheet, problems: Problems) -> list[Row]:
    """Every row typed, its own problems (types, formats, counts, duplicates) recorded."""
    rows: list[Row] = []
    first: dict[tuple[Any, ...], int] = {}
    for number, raw in sheet.rows:
        before = problems.count
        values = {key: _cell(BY_KEY[key], value, number, problems) for key, value in raw.items()}
        people = values.get("people")
        if isinstance(people, int):
            counts = {k: values.get(k) or 0 for k in VULNERABLE_KINDS}
            for kind in count_problems(people, counts):
                problems.add(number, kind, "count_exceeds_people", people=people)
        if (values.get("lat") is None) != (values.get("lng") is None):
            problems.add(
                number, "lng" if values.get("lng") is None else "lat", "coordinates_incomplete"
            )
        key = (values.get("grid_code"), values.get("address"), values.get("head_phone"))
        if all(key):
            if key in first:
                problems.add(number, "address", "duplicate_row", first=first[key])
            else:
                first[key] = number
        rows.append(Row(number, values, ok=problems.count == before))
    return rows


async def _resolve_grids(rows: list[Row], grants: list[policy.Grant], problems: Problems) -> None:
    codes = sorted({r.values["grid_code"] for r in rows if r.values.get("grid_code")})
    found = (
        {
            a["code"]: a
            for a in await Area.select(Area.id, Area.code, Area.path, Area.level).where(
                Area.code.is_in(codes)
            )
        }
        if codes
        else {}
    )
    for r in rows:
        code = r.values.get("grid_code")
        if not code:
            continue
        area = found.get(code)
        if area is None or area["level"] != "grid":
            problems.add(r.number, "grid_code", "grid_unknown", value=code)
        elif not policy.allows(grants, "household.manage", area["path"]):
            problems.add(r.number, "grid_code", "grid_outside_area", value=code)
        else:
            r.grid = area
            continue
        r.ok = False


async def _resolve_helpers(rows: list[Row], problems: Problems) -> None:
    phones = sorted({r.values["helper_phone"] for r in rows if r.values.get("helper_phone")})
    accounts = (
        {
            a["phone"]: a
            for a in await Account.select(Account.id, Account.phone, Account.is_active).where(
                Account.phone.is_in(phones)
            )
        }
        if phones
        else {}
    )
    grants = {a["id"]: await grants_of(a["id"]) for a in accounts.values() if a["is_active"]}
    for r in rows:
        phone = r.values.get("helper_phone")
        if not phone:
            continue
        account = accounts.get(phone)
        if account is None or account["id"] not in grants:
            problems.add(r.number, "helper_phone", "helper_unknown", value=phone)
            r.ok = False
        elif r.grid is not None and not helper_on_duty(grants[account["id"]], r.grid["path"]):
            problems.add(
                r.number, "helper_phone", "helper_not_on_duty", value=phone, grid=r.grid["code"]
            )
            r.ok = False
        else:
            r.helper = account["id"]


async def _resolve_shelters(rows: list[Row], problems: Problems) -> None:
    names = sorted({r.values["shelter"] for r in rows if r.values.get("shelter")})
    shelters = (
        await Shelter.select(Shelter.id, Shelter.name, Shelter.retired_at).where(
            Shelter.name.is_in(names)
        )
        if names
        else []
    )
    paths = await served_paths([s["id"] for s in shelters])
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in shelters:
        by_name[s["name"]].append(s)
    for r in rows:
        name = r.values.get("shelter")
        if not name or r.grid is None:
            continue
        serving = [s for s in by_name[name] if shelter_serves(paths[s["id"]], r.grid["path"])]
        current = [s for s in serving if s["retired_at"] is None]
        if len(current) == 1:
            r.shelter = current[0]["id"]
            continue
        code = (
            "shelter_ambiguous"
            if current
            else "shelter_retired"
            if serving
            else "shelter_not_found"
        )
        problems.add(r.number, "shelter", code, value=name, grid=r.grid["code"])
        r.ok = False


async def _resolve_risk_points(
    rows: list[Row], grants: list[policy.Grant], problems: Problems
) -> None:
    codes = sorted({r.values["risk_point_code"] for r in rows if r.values.get("risk_point_code")})
    found = (
        {
            p["code"]: p
            for p in await RiskPoint.select(
                RiskPoint.id, RiskPoint.code, RiskPoint.area_path
            ).where(RiskPoint.code.is_in(codes))
        }
        if codes
        else {}
    )
    for r in rows:
        code = r.values.get("risk_point_code")
        if not code:
            continue
        point = found.get(code)
        if point is None or not policy.allows(grants, "risk_point.read", point["area_path"]):
            problems.add(r.number, "risk_point_code", "risk_point_not_found", value=code)
            r.ok = False
        else:
            r.risk_point = point["id"]


# --- writing ---------------------------------------------------------------------------------

_COMPARED = (
    "risk_point",
    "head_name",
    "people",
    *VULNERABLE_KINDS,
    "helper",
    "shelter",
    "watch_group",
    "note",
)


def _columns_of(r: Row, present: dict[str, int]) -> dict[str, Any]:
    """The household's columns this row sets (an absent optional column leaves a stored
    household's value alone)."""
    assert r.grid is not None
    v = r.values
    out: dict[str, Any] = {
        "grid": r.grid["id"],
        "area_path": r.grid["path"],
        "address": v["address"],
        "head_name": v["head_name"],
        "head_phone": v["head_phone"],
        "people": v["people"],
        "helper": r.helper,
    }
    for kind in VULNERABLE_KINDS:
        if kind in present:
            out[kind] = v[kind] or 0
    for key, column, value in (
        ("risk_point_code", "risk_point", r.risk_point),
        ("shelter", "shelter", r.shelter),
        ("watch_group", "watch_group", v.get("watch_group")),
        ("note", "note", v.get("note")),
    ):
        if key in present:
            out[column] = value
    if "lat" in present and "lng" in present:
        out["lat"], out["lng"] = v["lat"], v["lng"]
    return out


def _differs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in new.items() if k in _COMPARED and old[k] != v}
    for k in ("lat", "lng"):  # Excel keeps 16 significant digits: a round trip is not exact
        if k in new and (
            (old[k] is None) != (new[k] is None)
            or (new[k] is not None and abs(old[k] - new[k]) > 1e-9)
        ):
            changed[k] = new[k]
    return changed


async def _write(
    rows: list[Row],
    present: dict[str, int],
    account_id: int,
    filename: str | None,
    problems: Problems,
) -> LedgerImported:
    paths = sorted({r.grid["path"] for r in rows if r.grid is not None})
    now = clock.now()
    created: list[int] = []
    updated: list[int] = []
    ids: list[int] = []
    async with write_transaction():
        stored: dict[tuple[str, str, str], dict[str, Any]] = {}
        for h in (
            await Household.select()
            .where(Household.area_path.is_in(paths) & Household.retired_at.is_null())
            .order_by(Household.id)
        ):
            stored.setdefault((h["area_path"], h["address"], h["head_phone"]), h)
        fresh: list[tuple[int, Household]] = []
        for index, r in enumerate(rows):
            values = _columns_of(r, present)
            old = stored.get((values["area_path"], values["address"], values["head_phone"]))
            if old is None:
                ids.append(0)
                fresh.append(
                    (
                        index,
                        Household(
                            **values,
                            created_by=account_id,
                            updated_by=account_id,
                            created_at=now,
                            updated_at=now,
                        ),
                    )
                )
                continue
            ids.append(old["id"])
            # a column left out keeps the stored count: it must still fit the new people
            kept = {k: values.get(k, old[k]) for k in VULNERABLE_KINDS}
            for kind in count_problems(values["people"], kept):
                problems.add(r.number, kind, "count_exceeds_people", people=values["people"])
            changes = _differs(old, values)
            if changes:
                changes.update(updated_at=now, updated_by=account_id)
                await (
                    Household.update({getattr(Household, k): v for k, v in changes.items()})
                    .where(Household.id == old["id"])
                    .run()
                )
                updated.append(old["id"])
        problems.raise_if_any()  # rolls the transaction back: nothing is written
        for start in range(0, len(fresh), BATCH):
            batch = fresh[start : start + BATCH]
            made = await Household.insert(*[h for _, h in batch]).returning(Household.id).run()
            for (index, _), row in zip(batch, made, strict=True):
                ids[index] = row["id"]
                created.append(row["id"])
        await audit.record(
            actor_id=account_id,
            action="household.import",
            object_type="household",
            area_path=common_ancestor(paths) if paths else None,
            detail={
                "filename": filename,
                "rows": len(rows),
                "created": len(created),
                "updated": len(updated),
                "created_ids": created,
                "updated_ids": updated,
            },
        )
    return LedgerImported(
        rows=len(rows),
        created=len(created),
        updated=len(updated),
        unchanged=len(rows) - len(created) - len(updated),
        household_ids=ids,
    )


async def import_ledger(
    *, path: Path, filename: str | None, grants: list[policy.Grant], account_id: int
) -> LedgerImported:
    """Import the ledger: every row checked first, all of them written in one transaction,
    or none (422 `ledger_invalid` listing every problem)."""
    if not policy.scopes(grants, "household.manage"):
        raise Forbidden()
    problems = Problems()
    language = i18n.current_language()

    def read() -> Sheet:
        with i18n.language(language):  # the worker thread has its own context
            return read_sheet(path, problems)

    sheet = await anyio.to_thread.run_sync(read)
    problems.raise_if_any()
    rows = parse_rows(sheet, problems)
    await _resolve_grids(rows, grants, problems)
    await _resolve_helpers(rows, problems)
    await _resolve_shelters(rows, problems)
    await _resolve_risk_points(rows, grants, problems)
    problems.raise_if_any()
    return await _write(rows, sheet.columns, account_id, filename, problems)


# --- the template and the export -------------------------------------------------------------

# Never let xlsxwriter guess: text is text, whatever it looks like (as stats/ledger does).
WORKBOOK_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def _workbook(rows: list[dict[str, Any]], path: Path, *, instructions: bool) -> None:
    book = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    sheet = book.add_worksheet(SHEET)
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF5", "border": 1})
    required = book.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1})
    text = book.add_format({"num_format": "@"})  # typed phones and codes stay text
    for col, c in enumerate(COLUMNS):
        sheet.set_column(col, col, c.width, text if c.kind in ("text", "phone") else None)
        sheet.write_string(0, col, c.header, required if c.required else bold)
    sheet.freeze_panes(1, 0)
    for line, values in enumerate(rows, start=1):
        for col, c in enumerate(COLUMNS):
            value = values.get(c.key)
            if value is None or value == "":
                sheet.write_blank(line, col, None)
            elif c.kind in ("count", "number"):
                sheet.write_number(line, col, value)
            else:
                sheet.write_string(line, col, str(value))  # never write(): "=..." stays text
    if instructions:
        notes = book.add_worksheet("填写说明")
        notes.set_column(0, 0, 16)
        notes.set_column(1, 1, 90)
        for line, (name, meaning) in enumerate(INSTRUCTIONS):
            notes.write_string(line, 0, name, bold if line == 0 else None)
            notes.write_string(line, 1, meaning, bold if line == 0 else None)
    book.close()


INSTRUCTIONS = (
    ("列", "填写说明（橙色表头为必填列；第一张工作表为台账，表头行须含“网格编码”）"),
    ("网格编码", "户所在网格的区划编码（网格级），须在您管辖的区域内"),
    ("风险点编号", "威胁该户的风险点编码，可空"),
    ("地址", "住址，最多200字；与网格编码、户主电话一起识别同一户，重复导入即更新"),
    ("户主姓名", "最多64字"),
    ("户主电话", "手机号（如 13812345678）或带区号的固定电话（如 023-63861234）"),
    ("人数", "1–100"),
    ("独居老人 / 残疾/卧床 / 幼儿 / 孕妇", "各类需帮扶人数，0 至户人数，可空（为0）"),
    ("包保责任人电话", "包保责任人账号的手机号；须在该网格或其上级区域在岗"),
    ("避险点", "服务该网格的避险点名称，可空"),
    ("十户联防组", "联防组名称，可空"),
    ("纬度(WGS-84) / 经度(WGS-84)", "该户位置，两者同填或同空；空则用风险点位置"),
    ("备注", "最多500字"),
)


async def _to_file(rows: list[dict[str, Any]], *, instructions: bool) -> Path:
    handle = tempfile.NamedTemporaryFile(prefix="households-", suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    path = Path(handle.name)
    await anyio.to_thread.run_sync(lambda: _workbook(rows, path, instructions=instructions))
    return path


async def template_file() -> Path:
    """The ledger's template: the header, one example row, the widths, and the instructions."""
    return await _to_file([EXAMPLE], instructions=True)


MAX_EXPORT_ROWS = 100_000


async def export_file(
    *, grants: list[policy.Grant], account_id: int, area_path: str | None
) -> tuple[Path, int]:
    """The households of the caller's grids (those they cover, in full) in the ledger's
    layout, to be edited and imported again; audited."""
    covered = policy.scopes(grants, "household.read")
    if not covered:
        raise Forbidden()
    if area_path is not None:
        if not any(area_path.startswith(s) or s.startswith(area_path) for s in covered):
            raise Forbidden()
        covered = [
            p if p.startswith(area_path) else area_path
            for p in covered
            if p.startswith(area_path) or area_path.startswith(p)
        ]
    where = under(Household.area_path, covered) & Household.retired_at.is_null()
    total = await Household.count().where(where).run()
    if total > MAX_EXPORT_ROWS:
        raise DomainError(
            "export_too_large",
            status=422,
            detail="at most %(max)s rows; choose a smaller area",
            params={"max": MAX_EXPORT_ROWS},
        )
    stored = (
        await Household.select(
            *Household.all_columns(),
            Household.grid.code.as_alias("grid_code"),
            Household.risk_point.code.as_alias("risk_point_code"),
            Household.helper.phone.as_alias("helper_phone"),
            Household.shelter.name.as_alias("shelter_name"),
        )
        .where(where)
        .order_by(Household.area_path)
        .order_by(Household.id)
    )
    rows = [
        {
            **{k: h[k] for k in ("grid_code", "risk_point_code", "helper_phone")},
            **{k: h[k] for k in ("address", "head_name", "head_phone", "people", "watch_group")},
            **{k: h[k] for k in (*VULNERABLE_KINDS, "lat", "lng", "note")},
            "shelter": h["shelter_name"],
        }
        for h in stored
    ]
    path = await _to_file(rows, instructions=False)
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="household.export",
            object_type="household",
            area_path=area_path,
            detail={"count": len(rows), "area_paths": covered},
        )
    return path, len(rows)
