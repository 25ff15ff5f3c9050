"""An evacuation's record as an Excel workbook (docs/evacuation.md, "Console"): one summary
sheet per level (district, township, community, grid: the board's counts and rate) and a sheet
of its households with their statuses and times. Scoped like the board (the households inside
the caller's area), audited (`evacuation.export`).

Written like the hazard ledger (stats/ledger.py): text through write_string only (a household's
note starting with "=" stays text), times as real Excel date-times in GRID_TIMEZONE, phones
masked as the console shows them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import xlsxwriter

from grid_backend.core import audit, i18n, policy
from grid_backend.core.db import fetch, write_transaction
from grid_backend.core.sql import q, under
from grid_backend.evacuation import runs
from grid_backend.evacuation.runs_schemas import Board, Counts
from grid_backend.people.phones import mask_phone
from grid_backend.settings import get_settings
from grid_backend.stats import labels
from grid_backend.stats.ledger import WORKBOOK_OPTIONS, write_cell

LEVELS = ("district", "township", "community", "grid")
LEVEL_NAMES = {
    "district": "District",
    "township": "Township",
    "community": "Community",
    "grid": "Grid",
}
MAX_ROWS = 200_000  # households of one evacuation in one workbook

SUMMARY = [  # (header, the count)
    ("Area", None),
    ("Households", "households"),
    ("People to move", "people"),
    ("Moved", "p_moved"),
    ("Already safe", "p_already_safe"),
    ("Refused", "p_refused"),
    ("Not at home", "p_not_at_home"),
    ("Contacted", "p_contacted"),
    ("Pending", "p_pending"),
    ("Vulnerable people to move", "vulnerable_to_move"),
    ("Vulnerable people moved", "vulnerable_moved"),
    ("Households returned", "h_returned"),
    ("Everyone-moved rate", "rate"),
]
HOUSEHOLDS = [
    ("Grid", 14),
    ("Address", 28),
    ("Head of household", 12),
    ("Phone", 14),
    ("People", 8),
    ("Vulnerable people", 10),
    ("Helper", 12),
    ("Status", 10),
    ("Destination", 12),
    ("Shelter", 18),
    ("Reason", 24),
    ("Note", 24),
    ("Last change", 17),
    ("Checked in", 17),
    ("Returned", 17),
]

_TASKS = (
    "SELECT t.status, t.destination, t.people, t.vulnerable, t.note, t.reason, t.updated_at,"
    " t.arrived_at, t.returned_at, h.address, h.head_name, h.head_phone, g.name AS grid_name,"
    " a.name AS helper_name, s.name AS shelter_name FROM evacuation_task t"
    " JOIN evacuation_household h ON h.id = t.household"
    " LEFT JOIN area g ON g.id = t.grid LEFT JOIN account a ON a.id = t.helper"
    " LEFT JOIN evacuation_shelter s ON s.id = t.shelter"
    " WHERE t.evacuation = {} AND {} ORDER BY t.area_path, t.id LIMIT {}"
)


def _local(value: Any) -> datetime | None:
    """A naive wall-clock time in the configured zone: what Excel and a reader expect."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(get_settings().zone).replace(tzinfo=None)


def _summary_row(name: str, c: Counts) -> list[Any]:
    return [name, *(getattr(c, key or "") for _, key in SUMMARY[1:])]


async def workbook(
    *, evacuation_id: int, account_id: int, grants: list[policy.Grant]
) -> tuple[Path, int]:
    """The workbook in a temporary file (the caller deletes it) and its household count."""
    boards: dict[str, Board] = {
        level: await runs.board(evacuation_id=evacuation_id, level=level, grants=grants)
        for level in LEVELS
    }
    evacuation = await runs.read_evacuation(evacuation_id=evacuation_id, grants=grants)
    scopes = policy.scopes(grants, "evacuation.read")
    tasks = await fetch(q(_TASKS, evacuation_id, under("t.area_path", scopes), MAX_ROWS))
    handle = tempfile.NamedTemporaryFile(prefix="evacuation-", suffix=".xlsx", delete=False)  # noqa: SIM115
    handle.close()
    path = Path(handle.name)
    book = xlsxwriter.Workbook(str(path), {**WORKBOOK_OPTIONS, "constant_memory": False})
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF5", "border": 1})
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    share = book.add_format({"num_format": "0.0%"})
    _ = i18n.gettext
    for level in LEVELS:
        board = boards[level]
        sheet = book.add_worksheet(_(LEVEL_NAMES[level]))
        for col, (header, _key) in enumerate(SUMMARY):
            sheet.write_string(0, col, _(header), bold)
            sheet.set_column(col, col, 18 if col == 0 else 11)
        sheet.freeze_panes(1, 1)
        rows = [_summary_row(a.area.name, a.counts) for a in board.areas]
        rows.append(_summary_row(_("Total"), board.total))
        for line, cells in enumerate(rows, 1):
            for col, value in enumerate(cells):
                if SUMMARY[col][1] == "rate":
                    sheet.write_number(line, col, value, share)
                else:
                    write_cell(sheet, line, col, value, stamp)
    sheet = book.add_worksheet(_("Household list"))
    for col, (header, width) in enumerate(HOUSEHOLDS):
        sheet.write_string(0, col, _(header), bold)
        sheet.set_column(col, col, width)
    sheet.freeze_panes(1, 0)
    for line, t in enumerate(tasks, 1):
        cells = [
            t["grid_name"],
            t["address"],
            t["head_name"],
            mask_phone(t["head_phone"] or ""),
            t["people"],
            t["vulnerable"],
            t["helper_name"],
            labels.label("household status", t["status"]),
            labels.label("evacuation destination", t["destination"] or None),
            t["shelter_name"],
            t["reason"],
            t["note"],
            _local(t["updated_at"]),
            _local(t["arrived_at"]),
            _local(t["returned_at"]),
        ]
        for col, value in enumerate(cells):
            write_cell(sheet, line, col, value, stamp)
    sheet.autofilter(0, 0, max(len(tasks), 1), len(HOUSEHOLDS) - 1)
    about = book.add_worksheet(_("About"))
    about.set_column(0, 0, 18)
    about.set_column(1, 1, 40)
    facts = [
        (_("Evacuation"), evacuation.id),
        (_("Status"), labels.label("evacuation status", evacuation.status)),
        (_("Areas"), "、".join(a.name for a in evacuation.areas)),
        (_("Started"), _local(evacuation.started_at)),
        (_("Ended"), _local(evacuation.ended_at)),
        (_("Everyone-moved rate"), boards["district"].total.rate),
        (_("Note"), evacuation.note),
    ]
    for line, (name, value) in enumerate(facts):
        about.write_string(line, 0, name, bold)
        if isinstance(value, float):
            about.write_number(line, 1, value, share)
        else:
            write_cell(about, line, 1, value, stamp)
    close: Callable[[], None] = book.close
    await anyio.to_thread.run_sync(close)
    async with write_transaction():
        await audit.record(
            actor_id=account_id,
            action="evacuation.export",
            object_type="evacuation",
            object_id=evacuation_id,
            area_path=(scopes[0] if len(scopes) == 1 else None),
            detail={"households": len(tasks)},
        )
    return path, len(tasks)
