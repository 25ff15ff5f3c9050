"""The one authorisation policy: every access is decided here from the caller's current
assignments and the area tree. A duty held at an area covers that area's whole subtree."""

from __future__ import annotations

from dataclasses import dataclass

from grid_backend.core.errors import Forbidden

LEVELS = ("city", "district", "township", "community", "grid", "micro_grid")


def ancestor_path(path: str, level: str) -> str:
    """The path of an area's ancestor at `level` (e.g. the township above a grid); the
    area's own path when it is at or above that level."""
    codes = [c for c in path.split("/") if c]
    depth = LEVELS.index(level) + 1
    return "/".join(codes[:depth]) + "/" if len(codes) > depth else path


def ancestors_and_self(path: str) -> list[str]:
    """'a/b/c/' → ['a/', 'a/b/', 'a/b/c/']: the paths of an area and everything above it."""
    codes = [c for c in path.split("/") if c]
    return ["/".join(codes[: i + 1]) + "/" for i in range(len(codes))]


def on_duty_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Where duties held at these areas stand: the areas themselves (each with everything
    under it), and the areas above them (a grid over a micro-grid's duty)."""
    own = sorted(set(paths))
    above = sorted({a for p in own for a in ancestors_and_self(p)} - set(own))
    return own, above


PARENT_LEVEL = {child: parent for parent, child in zip(LEVELS, LEVELS[1:], strict=False)}

# Where each duty may be held (DESIGN.md §3).
DUTY_LEVELS: dict[str, frozenset[str]] = {
    "admin": frozenset({"city"}),
    "supervisor": frozenset({"district"}),
    "commander": frozenset({"township"}),
    "dispatcher": frozenset({"township"}),
    "board_handler": frozenset({"township"}),
    "grid_leader": frozenset({"grid", "micro_grid"}),
    "grid_worker": frozenset({"grid", "micro_grid"}),
    "grid_instructor": frozenset({"grid", "micro_grid"}),
    "emergency_officer": frozenset({"grid", "micro_grid"}),
    "responder": frozenset({"grid", "micro_grid"}),
    "site_monitor": frozenset({"grid", "micro_grid"}),  # of a risk point in that grid
}
DUTIES = tuple(DUTY_LEVELS)
BOARDS = ("party_building", "economy", "livelihood", "safety_law")
EMPLOYMENTS = ("full_time", "part_time")

_MANAGERS = frozenset({"admin", "supervisor", "commander", "dispatcher"})
_COMMAND = _MANAGERS | {"grid_leader"}
_STAFF = frozenset(DUTIES)

# action -> the duties that may perform it inside the area they hold.
RULES: dict[str, frozenset[str]] = {
    "assignment.manage": _MANAGERS,
    "assignment.read": _COMMAND | {"grid_instructor"},
    "account.read": _COMMAND,
    "account.deactivate": frozenset({"admin"}),  # staff leave; residents delete their own
    "area.write": frozenset({"admin"}),
    "area.coverage": _COMMAND | {"grid_instructor"},
    "risk_point.read": _STAFF,
    "risk_point.write": _MANAGERS | {"grid_leader", "emergency_officer"},
    "contact.read": _STAFF,  # unmasked phone numbers of the team on duty
    "audit.read": frozenset({"admin", "supervisor"}),
    # hazard cases (the workflow's roles are resolved from these in hazards.services)
    "report.read": _STAFF,
    "report.command": frozenset({"dispatcher", "commander", "supervisor"}),
    "report.accept_major": frozenset({"supervisor"}),
    "report.fix_on_spot": frozenset(
        {"grid_leader", "grid_worker", "emergency_officer", "responder"}
    ),
    # the reporter's phone number unmasked: those who may need to call them back
    "report.contact": _MANAGERS
    | {"board_handler", "grid_leader", "grid_worker", "emergency_officer"},
    # a case filed for a caller (the 12345/12350 hotline, staff on behalf): the command centre
    # and grid leaders, at places they cover
    "report.on_behalf": _COMMAND,
    "sla.write": frozenset({"admin"}),
    # outbound webhooks carry every case of the city to another system
    "webhook.manage": frozenset({"admin"}),
    "open311.manage": frozenset({"admin"}),  # Open311 clients and their API keys
    # patrols: plans made by the command centre (and grid leaders in their grid), reviewed
    # by those who oversee them; missed patrols excused by managers
    "patrol.plan": _COMMAND,
    "patrol.review": _COMMAND | {"grid_instructor"},
    "patrol.excuse": _MANAGERS,
    # warnings and callouts: issued by the command centre and district supervisors, read by
    # staff of the areas they cover; a callout's board watched by managers and grid leaders
    "alert.issue": frozenset({"dispatcher", "commander", "supervisor"}),
    "warning.read": _STAFF,
    "callout.board": _MANAGERS | {"grid_leader"},
    # urgent cases: teams managed and dispatched by the command centre (and above), response
    # metrics read by managers
    "rescue_team.read": _STAFF,
    "rescue_team.manage": _MANAGERS,
    "response.dispatch": _MANAGERS,
    "response.stats": _MANAGERS,
    # evacuation: shelters kept by the command centre (and above), read by staff of the areas
    # they serve
    "shelter.read": _STAFF,
    "shelter.manage": _MANAGERS,
    # evacuations: started (or confirmed, ended) by the command centre for its township and
    # supervisors for the district; watched by staff covering the areas; households' statuses
    # recorded by their helper (any duty) or the grid's team and the managers above it
    "evacuation.start": _MANAGERS,
    "evacuation.read": _STAFF,
    "evacuation.record": _MANAGERS
    | {"grid_leader", "grid_worker", "emergency_officer", "responder"},
    # threatened households: their details (the head's phone, the linked resident) read by
    # staff covering the grid; kept by the command centre (and above) and the grid's leader
    "household.read": _STAFF,
    "household.manage": _COMMAND,
    # QR codes at risk points and grids (扫码报灾): kept by those who keep the risk points
    "qr.manage": _MANAGERS | {"grid_leader", "emergency_officer"},
    # evacuation routes drawn on the risk map: recorded by the command centre, read by staff
    "evacuation_route.read": _STAFF,
    "evacuation_route.manage": _MANAGERS,
    # the printable risk map of a community: staff over or inside it print it; the team's
    # phones are printed only when a manager chooses to publish them
    "risk_map.print": _STAFF,
    "risk_map.phones": _MANAGERS,
    # the console's dashboard figures and the case ledger export (the area's whole picture),
    # and the review of residents' reward points across an area
    "stats.read": _COMMAND | {"grid_instructor"},
    "report.export": _COMMAND | {"grid_instructor"},
    "points.review": _MANAGERS,
}


@dataclass(frozen=True, slots=True)
class Grant:
    """One current assignment, reduced to what decisions need."""

    duty: str
    area_id: int
    area_path: str
    board: str | None = None


def _covers(grant: Grant, area_path: str) -> bool:
    return area_path.startswith(grant.area_path)


def allows(grants: list[Grant], action: str, area_path: str) -> bool:
    duties = RULES[action]
    return any(g.duty in duties and _covers(g, area_path) for g in grants)


def duty_covering(grants: list[Grant], area_path: str) -> str | None:
    """The duty of the first grant whose area covers this path, else None: the duty a
    person acts under at a place."""
    return next((g.duty for g in grants if _covers(g, area_path)), None)


def require(grants: list[Grant], action: str, area_path: str) -> None:
    if not allows(grants, action, area_path):
        raise Forbidden()


# Who may appoint whom: managers appoint (and end) duties ranked below their own, inside their
# area, so a dispatcher cannot make themselves commander; admins may appoint anyone.
RANK: dict[str, int] = {"admin": 4, "supervisor": 3, "commander": 2, "dispatcher": 1}


def may_appoint(grants: list[Grant], duty: str, area_path: str) -> bool:
    rank = RANK.get(duty, 0)
    return any(
        g.duty in RULES["assignment.manage"]
        and _covers(g, area_path)
        and (g.duty == "admin" or RANK[g.duty] > rank)
        for g in grants
    )


def require_appoint(grants: list[Grant], duty: str, area_path: str) -> None:
    if not may_appoint(grants, duty, area_path):
        raise Forbidden()


def scopes(grants: list[Grant], action: str) -> list[str]:
    """The area paths under which the action is allowed, without nested duplicates."""
    paths = sorted({g.area_path for g in grants if g.duty in RULES[action]})
    kept: list[str] = []
    for p in paths:
        if not any(p.startswith(k) for k in kept):
            kept.append(p)
    return kept


def inner_scopes(grants: list[Grant], action: str, level: str) -> list[str]:
    """The paths of the areas at `level` above grants for the action held further down (a
    micro-grid's staff, inside a grid): such a caller sees what is kept at that level without
    covering it (phone numbers masked)."""
    depth = LEVELS.index(level) + 1
    return sorted(
        {
            ancestor_path(g.area_path, level)
            for g in grants
            if g.duty in RULES[action] and len([c for c in g.area_path.split("/") if c]) > depth
        }
    )


def is_staff(grants: list[Grant]) -> bool:
    return bool(grants)
