"""Whom a case goes to: the dispatch picker of the case page and of the queue's bulk
dispatch. The team on duty in the case's grid comes first, each with the open cases they
already hold; everyone else on a field duty in the township follows, to be searched. Picking
someone outside the case's grid asks for a confirmation, and the console's forms are refused
without it (the JSON API keeps accepting such a dispatch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from grid_backend.core import clock, policy
from grid_backend.core.errors import DomainError
from grid_backend.hazards import services as hazards
from grid_backend.hazards.tables import HazardReport
from grid_backend.people import duty
from grid_backend.web import i18n

# the people who rectify (any duty in the township is accepted by the workflow)
FIELD_DUTIES = ("grid_leader", "grid_worker", "emergency_officer", "responder", "board_handler")
_DUTY_ORDER = {d: i for i, d in enumerate(FIELD_DUTIES)}


def grid_of(area_path: str) -> str:
    """The path of the grid a case lies in (its own path when it is routed to the grid)."""
    return policy.ancestor_path(area_path, "grid")


def covers(duty_paths: Iterable[str], case_path: str) -> bool:
    """Whether someone on duty at these areas stands in the case's grid (the grid itself or
    one of its micro-grids)."""
    grid = grid_of(case_path)
    return any(p.startswith(grid) for p in duty_paths)


@dataclass
class Candidate:
    id: int
    name: str
    duties: list[str] = field(default_factory=list)  # "Grid worker · 第一网格", page language
    paths: list[str] = field(default_factory=list)
    order: int = 99
    open: int = 0
    cases: list[int] = field(default_factory=list)  # the cases shown whose grid they stand in

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": " / ".join(self.duties),
            "open": self.open,
            "cases": " ".join(str(c) for c in self.cases),
            "search": " ".join([self.name, *self.duties]).lower(),
        }


async def candidates(case_paths: Iterable[str]) -> list[Candidate]:
    """Everyone on a field duty today in the townships of these cases, once each, with their
    open cases; by name."""
    townships = sorted({policy.ancestor_path(p, "township") for p in case_paths})
    rows = await duty.on_duty_within(area_paths=townships, duties=FIELD_DUTIES, day=clock.today())
    found: dict[int, Candidate] = {}
    for r in rows:
        c = found.setdefault(r["account"], Candidate(r["account"], r["name"]))
        c.duties.append(f"{i18n.duty_name(r['duty'])} · {r['area_name']}")
        c.paths.append(r["area_path"])
        c.order = min(c.order, _DUTY_ORDER.get(r["duty"], 99))
    load = await hazards.open_cases_of(list(found))
    for c in found.values():
        c.open = load.get(c.id, 0)
    return list(found.values())


async def picker_for_case(case_path: str) -> dict[str, list[dict[str, Any]]]:
    """The case page's picker: the grid's team (duty order, then the lighter load) and the
    others of the township (by name)."""
    people = await candidates([case_path])
    team = [c for c in people if covers(c.paths, case_path)]
    team.sort(key=lambda c: (c.order, c.open, c.name))
    others = [c for c in people if not covers(c.paths, case_path)]
    return {"team": [c.view() for c in team], "others": [c.view() for c in others]}


async def picker_for_queue(cases: dict[int, str]) -> list[dict[str, Any]]:
    """The bulk dispatch picker: everyone of the townships of the cases shown ({id: area
    path}), each with the cases whose grid they stand in (the page puts the team of the
    selected cases first)."""
    people = await candidates(cases.values())
    for c in people:
        c.cases = [case_id for case_id, path in cases.items() if covers(c.paths, path)]
    return [c.view() for c in people]


async def case_paths(ids: list[int]) -> dict[int, str]:
    """The area path of each of these cases ({id: path})."""
    if not ids:
        return {}
    rows = (
        await HazardReport.select(HazardReport.id, HazardReport.area_path)
        .where(HazardReport.id.is_in(ids))
        .run()
    )
    return {r["id"]: r["area_path"] for r in rows}


async def require_in_grid(*, assignee_id: int, case_paths: Iterable[str], confirmed: bool) -> None:
    """Refuse a console dispatch to someone not on duty in a case's grid unless confirmed.
    Someone with no duty in the case's township is left to the workflow, which refuses them
    as no assignee there."""
    if confirmed:
        return
    grants = await duty.grants_of(assignee_id)
    held = [g.area_path for g in grants]
    field_paths = [g.area_path for g in grants if g.duty in FIELD_DUTIES]
    outside = [
        p
        for p in case_paths
        if any(h.startswith(policy.ancestor_path(p, "township")) for h in held)
        and not covers(field_paths, p)
    ]
    if outside:
        raise DomainError(
            "dispatch_outside_grid",
            status=422,
            field="assignee_id",
            detail="confirm to dispatch outside the case's grid",
        )
