"""The console's cases: the queue with filters and bulk dispatch, and the case page with its
photos, timeline, deadlines and one form for each action the workflow allows this person now.
Every action goes through flows.cases.act, exactly as the API's; a refusal is shown next
to the form it came from, in the page's language."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.params import QueryParameter
from litestar.response import Redirect, Template

from grid_backend.areas.tables import Area
from grid_backend.core import clock, policy
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import TITLES, DomainError, invalid
from grid_backend.core.pagination import Cursor, DateFrom, DateTo
from grid_backend.core.types import LINE_PATTERN, PathId, QueryId, in_window
from grid_backend.flows import cases as case_flow
from grid_backend.hazards import services as hazards
from grid_backend.hazards import workflow
from grid_backend.hazards.schemas import ActionIn, ReportRead
from grid_backend.media import storage
from grid_backend.media.services import ingest
from grid_backend.people import services as people
from grid_backend.people.duty import grants_of
from grid_backend.people.tables import Account
from grid_backend.settings import get_settings
from grid_backend.stats import labels
from grid_backend.stats.services import day_start
from grid_backend.web import i18n
from grid_backend.web.console import assignees as picker
from grid_backend.web.console.map import area_choices, category_names, map_config, status_names
from grid_backend.web.console.queue_views import views_for

PAGE_SIZE = 50
MAX_BULK = 100
REASON_ACTIONS = frozenset(a for a, t in workflow.TRANSITIONS.items() if t.reason_required)
DONE = "done"


def english() -> bool:
    return i18n.current_language() == "en"


def problem_text(exc: DomainError) -> str:
    """A refusal as the page shows it: the localised title, and the detail when there is one
    in the page's language."""
    title = i18n.gettext(TITLES[exc.code])
    detail = exc.translated_detail()
    if not detail or detail == title:
        return title
    return f"{title}: {detail}" if english() else f"{title}：{detail}"


def _validation_text(exc: msgspec.ValidationError) -> str:
    title = i18n.gettext(TITLES["validation_failed"])
    return f"{title}: {exc}" if english() else f"{title}：{exc}"


def page(template: str, context: dict[str, Any], status_code: int = 200) -> Template:
    """A console page."""
    return Template(template_name=f"console/{template}", context=context, status_code=status_code)


async def actor_of(caller: Any) -> hazards.Actor:
    return hazards.Actor(caller.account_id, await grants_of(caller.account_id))


def label_functions() -> dict[str, Any]:
    """Names of codes in the page's language, for the templates."""
    en = english()
    return {
        "status_name": lambda code: labels.name(labels.STATUS, code, en),
        "level_name": lambda code: labels.name(labels.LEVEL, code, en),
        "action_name": lambda code: labels.name(labels.ACTION, code, en),
        "channel_name": lambda code: labels.name(labels.CHANNEL, code, en),
        "board_name": lambda code: labels.name(labels.BOARD, code, en),
    }


async def account_names(ids: set[int | None]) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await Account.select(Account.id, Account.name).where(Account.id.is_in(wanted)).run()
    return {r["id"]: r["name"] for r in rows}


async def eligible_assignees(
    grants: list[policy.Grant], caller_id: int, area_ids: list[int]
) -> list[dict[str, Any]]:
    """People on duty today in these areas who can take a case, once each (the queue's
    assignee filter; dispatching picks from web/console/assignees.py)."""
    seen: dict[int, dict[str, Any]] = {}
    for area_id in area_ids:
        page = await people.list_assignments(
            grants=grants,
            caller_id=caller_id,
            area_id=area_id,
            active_on=clock.today(),
            limit=200,
        )
        for a in page.items:
            if a.duty in picker.FIELD_DUTIES and a.account_id not in seen:
                seen[a.account_id] = {
                    "id": a.account_id,
                    "label": f"{a.account_name} · {i18n.duty_name(a.duty)} · {a.area_name}",
                }
    return sorted(seen.values(), key=lambda p: p["label"])


# --- the queue -------------------------------------------------------------------------------

StatusFilter = Annotated[list[str] | None, QueryParameter(name="status")]
Text = Annotated[str | None, QueryParameter(max_length=100, pattern=LINE_PATTERN)]


def _statuses(values: list[str] | None) -> list[str] | None:
    """`open` stands for every open status; unknown values are dropped."""
    if not values:
        return None
    chosen: set[str] = set()
    for v in values:
        if v == "open":
            chosen |= workflow.OPEN
        elif v in workflow.STATUSES:
            chosen.add(v)
    return sorted(chosen) or None


async def _area_ids_for_picker(
    grants: list[policy.Grant], area: dict[str, Any] | None
) -> list[int]:
    if area is not None:
        return [area["id"]]
    paths = policy.scopes(grants, "report.command")
    if not paths:
        return []
    rows = await Area.select(Area.id).where(Area.path.is_in(paths)).run()
    return [r["id"] for r in rows]


async def queue_context(
    caller: Any,
    *,
    status: list[str] | None,
    category: str | None,
    level: str | None,
    area_id: int | None,
    assignee_id: int | None,
    overdue: str | None,
    date_from: date | None,
    date_to: date | None,
    q: str | None,
    cursor: str | None,
    sort: str | None = None,
    urgent: str | None = None,
    dispatched_by: str | None = None,
) -> dict[str, Any]:
    in_window("from", date_from)
    in_window("to", date_to)
    actor = await actor_of(caller)
    choices = await area_choices(actor.grants, "report.read")
    area = next((c for c in choices if c["id"] == area_id), None)
    if area is None and area_id is not None:  # an area below the choices (a grid, say)
        row = await Area.select(Area.id, Area.name, Area.path).where(Area.id == area_id).first()
        area = row
    statuses = _statuses(status)
    page = await hazards.list_reports(
        actor=actor,
        status=statuses,
        category=category or None,
        level=level if level in ("general", "major") else None,
        area_path=area["path"] if area else None,
        assignee_id=assignee_id,
        is_overdue={"true": True, "false": False}.get(overdue or ""),
        urgent={"true": True, "false": False}.get(urgent or ""),
        due_on=clock.today() if overdue == "today" else None,
        dispatched_by=caller.account_id if dispatched_by == "me" else None,
        created_from=day_start(date_from) if date_from else None,
        created_to=day_start(date_to + timedelta(days=1)) if date_to else None,
        text=q or None,
        limit=PAGE_SIZE,
        sort=sort if sort in hazards.SORTS else "newest",
        cursor=cursor,
    )
    filters: dict[str, Any] = {
        "status": status or [],
        "category": category or "",
        "level": level or "",
        "area_id": area_id or "",
        "assignee_id": assignee_id or "",
        "overdue": overdue if overdue in ("true", "false", "today") else "",
        "urgent": urgent if urgent in ("true", "false") else "",
        "dispatched_by": "me" if dispatched_by == "me" else "",
        "from": date_from or "",
        "to": date_to or "",
        "q": q or "",
        "sort": sort if sort in hazards.SORTS and sort != "newest" else "",
    }
    kept = [(k, v) for k, v in filters.items() if k != "status" and v != ""]
    kept += [("status", s) for s in filters["status"]]
    commands = bool(policy.scopes(actor.grants, "report.command"))
    return {
        "page": page,
        "filters": filters,
        "query": urlencode(kept),
        "next_query": urlencode([*kept, ("cursor", page.next_cursor)]) if page.next_cursor else "",
        "views": views_for(filters),
        "choices": choices,
        "area": area,
        "categories": await category_names(),
        "statuses": workflow.STATUSES,
        "names": await account_names({i.assignee_id for i in page.items}),
        "assignees": await eligible_assignees(
            actor.grants, caller.account_id, await _area_ids_for_picker(actor.grants, area)
        )
        if commands
        else [],
        "bulk_people": await picker.picker_for_queue(
            await picker.case_paths([i.id for i in page.items])
        )
        if commands
        else [],
        "can_dispatch": commands,
        **label_functions(),
    }


# --- forms -----------------------------------------------------------------------------------


def _local_datetime(field: str, value: str) -> datetime | None:
    """A `datetime-local` input (wall-clock time in the configured zone) as an aware time."""
    if not value.strip():
        return None
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise invalid(field, "not a date and time: %(value)r", params={"value": value}) from None
    return naive.replace(tzinfo=get_settings().zone) if naive.tzinfo is None else naive


def _int(field: str, value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 10:
        raise invalid(field, "expected a number")
    return int(value)


async def _photos(files: list[Any], account_id: int, field: str) -> list[int]:
    """Store uploaded photos through the media pipeline; their ids."""
    ids = []
    for upload in files:
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        spool = storage.spool_dir()
        spool.mkdir(parents=True, exist_ok=True)
        path = spool / f"console-{uuid.uuid4().hex}"
        with path.open("wb") as out:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, out)
        photo = await ingest(upload=path, account_id=account_id, field=field)
        ids.append(photo.id)
    return ids


def _dispatch_fields(text: Callable[[str], str]) -> dict[str, Any]:
    """A dispatch form's fields: to whom, the deadline, and a major case's supervision."""
    body: dict[str, Any] = {}
    target = text("target") or "assignee"
    if target == "assignee":
        body["assignee_id"] = _int("assignee_id", text("assignee_id"))
    elif target == "grid":
        body["grid_id"] = _int("grid_id", text("grid_id"))
    elif target == "board":
        body["board"] = text("board") or None
    body["due_at"] = _local_datetime("due_at", text("due_at"))
    if text("responsibility"):
        body["supervision"] = {
            "responsibility": text("responsibility"),
            "measures": text("measures"),
            "funds": text("funds"),
            "deadline": _local_datetime("supervision.deadline", text("deadline")),
            "contingency_plan": text("contingency_plan"),
        }
    return body


async def action_from_form(form: Any, account_id: int) -> ActionIn:
    """The workflow action a case page's form describes."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    action = text("action")
    body: dict[str, Any] = {"action": action}
    if text("note"):
        body["note"] = text("note")
    if action in REASON_ACTIONS or text("reason"):
        body["reason"] = text("reason")
    if action == "register":
        body["level"] = text("level") or None
        body["category"] = text("category") or None
    elif action == "reject":
        body["false_report"] = text("false_report") in ("1", "on", "true")
    elif action == "merge":
        body["into"] = _int("into", text("into"))
    elif action == "dispatch":
        body.update(_dispatch_fields(text))
    elif action == "relocate":
        lat, lng = text("lat"), text("lng")
        try:
            body["location"] = {
                "lat": float(lat),
                "lng": float(lng),
                "datum": text("datum") or "wgs84",
                "source": "map_pick",
            }
        except ValueError:
            raise invalid("location", "give the latitude and longitude") from None
    elif action in ("report_fixed", "fix_on_spot"):
        body["photo_ids"] = await _photos(form.getall("photos", []), account_id, "photo_ids")
        if action == "fix_on_spot":
            body["before_photo_ids"] = await _photos(
                form.getall("before_photos", []), account_id, "before_photo_ids"
            )
    return msgspec.convert(body, ActionIn, strict=False)


# --- the case page ---------------------------------------------------------------------------


async def case_context(caller: Any, case: ReportRead, actor: hazards.Actor) -> dict[str, Any]:
    names = await account_names({case.assignee_id, *(e.actor_id for e in case.timeline)})
    people = (
        await picker.picker_for_case(case.area_path)
        if "dispatch" in case.actions
        else {"team": [], "others": []}
    )
    duplicates = (
        await hazards.merge_candidates(case=case, actor=actor) if "merge" in case.actions else []
    )
    zone = get_settings().zone
    tomorrow = (clock.now() + timedelta(days=3)).astimezone(zone).strftime("%Y-%m-%dT%H:%M")
    names_of_categories = await category_names()  # the map's and the forms'
    return {
        "case": case,
        "names": names,
        "picker": people,
        "confirm_outside": False,
        "duplicates": duplicates,
        "joined": await _joined(case, actor),
        "case_map": {
            **map_config(),
            "report_id": case.id,
            "status_names": status_names(english()),
            "category_names": names_of_categories,
        },
        "distance_text": distance_text,
        "reason_name": reason_name,
        "categories": names_of_categories,
        "boards": policy.BOARDS,
        "default_due": tomorrow,
        "reason_actions": REASON_ACTIONS,
        "errors": {},
        "values": {},
        **label_functions(),
    }


def _ticked(form: Any, name: str) -> bool:
    return str(form.get(name) or "") in ("1", "on", "true")


def _bulk_request(form: Any) -> tuple[list[int], int, datetime | None]:
    """The cases, the assignee and the deadline a bulk dispatch form asks for."""
    ids: list[int] = []
    for raw in form.getall("case_id", []):
        value = raw.strip() if isinstance(raw, str) else ""
        if value.isascii() and value.isdigit() and int(value) not in ids:
            ids.append(int(value))
    if not ids:
        raise invalid("case_id", "select at least one case")
    if len(ids) > MAX_BULK:
        raise invalid("case_id", "at most %(limit)s cases at once", params={"limit": MAX_BULK})
    assignee = _int("assignee_id", str(form.get("assignee_id") or ""))
    if assignee is None:
        raise invalid("assignee_id", "choose whom to dispatch to", code="dispatch_target_required")
    return ids, assignee, _local_datetime("due_at", str(form.get("due_at") or ""))


DUPLICATE_REASONS = {  # why a case is offered as a possible duplicate; zh-CN in messages.po
    "nearby": "nearby, same category",
    "photo": "similar photo",
    "grid": "same grid and category",
}


def distance_text(metres: float | None) -> str:
    """How far away, in the page's language: metres up to a kilometre, then kilometres."""
    if metres is None:
        return "—"
    if metres < 1000:
        return i18n.gettext("%(n)s m away") % {"n": round(metres)}
    return i18n.gettext("%(n)s km away") % {"n": f"{metres / 1000:.1f}"}


def reason_name(reason: str) -> str:
    return i18n.gettext(DUPLICATE_REASONS[reason]) if reason in DUPLICATE_REASONS else ""


async def _joined(case: ReportRead, actor: hazards.Actor) -> ReportRead | None:
    """The case a merged case joined, as this person may see it (None if they may not)."""
    if case.merged_into is None:
        return None
    try:
        return await _read(case.merged_into, actor)
    except DomainError:
        return None


def _done_message(action: str) -> str:
    name = labels.name(labels.ACTION, action, english())
    return f"{name}: done" if english() else f"已{name}" if not name.startswith("已") else name


class CasesPage(Controller):
    include_in_schema = False

    @get("/cases", name="console:cases")
    async def queue(
        self,
        caller: CurrentCaller,
        status: StatusFilter = None,
        category: Annotated[str | None, QueryParameter(max_length=32, pattern=LINE_PATTERN)] = None,
        level: Annotated[str | None, QueryParameter(max_length=16, pattern=LINE_PATTERN)] = None,
        area_id: QueryId = None,
        assignee_id: QueryId = None,
        overdue: Annotated[str | None, QueryParameter(max_length=5, pattern=LINE_PATTERN)] = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        q: Text = None,
        cursor: Cursor = None,
        sort: Annotated[str | None, QueryParameter(max_length=8, pattern=LINE_PATTERN)] = None,
        urgent: Annotated[str | None, QueryParameter(max_length=5, pattern=LINE_PATTERN)] = None,
        dispatched_by: Annotated[
            str | None, QueryParameter(max_length=5, pattern=LINE_PATTERN)
        ] = None,
    ) -> Template:
        in_window("from", date_from)
        in_window("to", date_to)
        context = await queue_context(
            caller,
            status=status,
            category=category,
            level=level,
            area_id=area_id,
            assignee_id=assignee_id,
            overdue=overdue,
            date_from=date_from,
            date_to=date_to,
            q=q,
            cursor=cursor,
            sort=sort,
            urgent=urgent,
            dispatched_by=dispatched_by,
        )
        return page("cases.html", context)

    @post("/cases/dispatch", name="console:cases-dispatch", status_code=200)
    async def bulk_dispatch(
        self, caller: CurrentCaller, request: Request[Any, Any, Any]
    ) -> Template:
        """Dispatch several cases to one assignee: each through the workflow, each reported.
        Someone not on duty in a selected case's grid needs a confirmation first."""
        form = await request.form()
        actor = await actor_of(caller)
        results: list[dict[str, Any]] = []
        problem, outside, assignee = None, False, None
        try:
            ids, assignee, due = _bulk_request(form)
            paths = await picker.case_paths(ids)
            await picker.require_in_grid(
                assignee_id=assignee,
                # only cases the caller may see: asking about another area's case would tell
                # where it lies (the workflow refuses those one by one below)
                case_paths=[
                    p for p in paths.values() if policy.allows(actor.grants, "report.read", p)
                ],
                confirmed=_ticked(form, "confirm_outside"),
            )
        except DomainError as exc:
            problem, outside = problem_text(exc), exc.code == "dispatch_outside_grid"
        else:
            for report_id in ids:
                try:
                    case = await case_flow.act(
                        report_id=report_id,
                        data=ActionIn(action="dispatch", assignee_id=assignee, due_at=due),
                        actor=actor,
                    )
                    results.append({"id": report_id, "ok": True, "status": case.status})
                except DomainError as exc:
                    results.append({"id": report_id, "ok": False, "problem": problem_text(exc)})
        named = assignee is not None and (problem is None or outside)
        names = await account_names({assignee} if named else set())
        back = str(form.get("back") or "")
        return page(
            "cases_bulk.html",
            {
                "results": results,
                "problem": problem,
                # the same request again, confirmed (a form without scripts still asks)
                "confirm": [
                    (k, v)
                    for k, v in form.multi_items()
                    if isinstance(v, str) and k not in ("csrf_token", "confirm_outside")
                ]
                if outside
                else [],
                "assignee": names.get(assignee) if named and assignee is not None else None,
                "back": back if back.startswith("/console/cases") else "/console/cases",
                "ok": sum(1 for r in results if r["ok"]),
                "refused": sum(1 for r in results if not r["ok"]),
                **label_functions(),
            },
            422 if problem else 200,
        )

    @get("/cases/{report_id:int}", name="console:case")
    async def case_page(
        self,
        caller: CurrentCaller,
        report_id: PathId,
        done: Annotated[str | None, QueryParameter(max_length=100, pattern=LINE_PATTERN)] = None,
    ) -> Template:
        actor = await actor_of(caller)
        try:
            case = await _read(report_id, actor)
        except DomainError as exc:
            return missing_page(exc)
        context = await case_context(caller, case, actor)
        if done in workflow.TRANSITIONS:
            context["flash"] = _done_message(done)
        return page("case.html", context)

    @post("/cases/{report_id:int}/actions", name="console:case-act", status_code=303)
    async def act(
        self, caller: CurrentCaller, request: Request[Any, Any, Any], report_id: PathId
    ) -> Response[Any]:
        """One action from the case page: done and back to the page with a message, or the
        page again with the refusal next to the form."""
        actor = await actor_of(caller)
        form = await request.form()
        action = str(form.get("action") or "")
        try:
            data = await action_from_form(form, caller.account_id)
            if data.action == "dispatch" and data.assignee_id is not None:
                case = await _read(report_id, actor)
                await picker.require_in_grid(
                    assignee_id=data.assignee_id,
                    case_paths=[case.area_path],
                    confirmed=_ticked(form, "confirm_outside"),
                )
            await case_flow.act(report_id=report_id, data=data, actor=actor)
        except (DomainError, msgspec.ValidationError) as exc:
            try:
                case = await _read(report_id, actor)
            except DomainError as missing:
                return missing_page(missing)
            context = await case_context(caller, case, actor)
            if isinstance(exc, DomainError):
                text, status = problem_text(exc), exc.status
            else:
                text, status = _validation_text(exc), 422
            context["errors"] = {action: text}
            context["confirm_outside"] = getattr(exc, "code", "") == "dispatch_outside_grid"
            context["values"] = {
                k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"
            }
            context["flash"], context["flash_kind"] = text, "error"
            return page("case.html", context, status)
        return Redirect(path=f"/console/cases/{report_id}?{DONE}={action}", status_code=303)


async def _read(report_id: int, actor: hazards.Actor) -> ReportRead:
    return await hazards.read_report(report_id=report_id, actor=actor)


def missing_page(exc: DomainError) -> Template:
    """The console's answer for a case that does not exist or is not the caller's to see."""
    return page("cases_missing.html", {"problem": problem_text(exc)}, exc.status)
