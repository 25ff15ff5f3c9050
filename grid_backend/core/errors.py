"""One family of domain errors, rendered as RFC 9457 problem+json in zh-CN or English."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from grid_backend.core import i18n, types
from grid_backend.core.i18n import N_
from grid_backend.core.i18n import wants_english as wants_english  # re-exported

logger = logging.getLogger("grid_backend")

PROBLEM_JSON = "application/problem+json"

# code -> English title; the zh-CN titles are in the catalogue. Codes are stable: clients branch
# on them.
TITLES: dict[str, str] = {
    "validation_failed": N_("The request is not valid"),
    "bad_request": N_("The request cannot be processed"),
    "unauthenticated": N_("Authentication is required"),
    "token_invalid": N_("The token is invalid or has expired"),
    "refresh_token_reused": N_("The refresh token was already used; sign in again"),
    "invalid_credentials": N_("Wrong phone number or password"),
    "account_disabled": N_("The account is disabled"),
    "account_closed": N_("The account is closed; sign in again"),
    "staff_account_not_deletable": N_(
        "Staff accounts are not deleted: an administrator deactivates them"
    ),
    "password_wrong": N_("The password is wrong"),
    "export_rate_limited": N_("Too many downloads of your data; try again later"),
    "rate_limited": N_("Too many attempts; try again later"),
    "forbidden": N_("You are not allowed to do this"),
    "csrf_failed": N_("The page has expired; reload it and try again"),
    "not_found": N_("Not found"),
    "method_not_allowed": N_("Method not allowed"),
    "conflict": N_("Conflicts with existing data"),
    "phone_invalid": N_("Not a valid mainland China mobile number"),
    "phone_taken": N_("This phone number is already registered"),
    "password_weak": N_("The password is too weak"),
    "code_invalid": N_("The code is wrong or has expired"),
    "area_not_found": N_("No such area"),
    "area_code_unknown": N_("Unknown area code"),
    "duty_area_mismatch": N_("This duty cannot be held at this area level"),
    "duty_unknown": N_("Unknown duty"),
    "outside_all_grids": N_("The position is outside every grid"),
    "coordinates_out_of_range": N_("Coordinates are out of range"),
    "datum_unknown": N_("Unknown datum"),
    "geojson_invalid": N_("The GeoJSON is not valid"),
    "geometry_invalid": N_("The boundary geometry is not valid"),
    "area_tree_invalid": N_("The area tree is not valid"),
    "payload_too_large": N_("The request body is too large"),
    "risk_point_not_found": N_("No such risk point"),
    "assignment_not_found": N_("No such assignment"),
    "photo_type_unsupported": N_("Not a JPEG, PNG, WebP or HEIC photo"),
    "photo_too_large": N_("The photo file is too large"),
    "photo_too_many_pixels": N_("The photo has too many pixels"),
    "photo_corrupt": N_("The photo is damaged"),
    "server_busy": N_("The server is busy; try again shortly"),
    "storage_unavailable": N_("Photo storage is unavailable; try again shortly"),
    "photo_truncated": N_("The photo is incomplete"),
    "photo_required": N_("A photo is required"),
    "photo_count_exceeded": N_("Too many photos"),
    "photo_not_yours": N_("Photos must be uploaded by you"),
    "photo_not_found": N_("No such photo"),
    "category_unknown": N_("Unknown hazard category"),
    "reporter_safe_required": N_("Confirm whether you are safe"),
    "report_not_found": N_("No such case"),
    "report_not_open": N_("The case is not open"),
    "report_own": N_("You reported this case"),
    "support_not_plausible": N_(
        "You can only support a case near your own reports or one offered to you"
    ),
    "report_changed": N_("The case changed meanwhile"),
    "action_not_allowed": N_("Not possible in the case's current state"),
    "reason_required": N_("A reason is required"),
    "supervision_required": N_("A major hazard needs its supervision listing"),
    "dispatch_target_required": N_("Name whom to dispatch the case to"),
    "assignee_invalid": N_("The assignee holds no duty here"),
    "dispatch_outside_grid": N_("The assignee is not on duty in the case's grid"),
    "merge_target_required": N_("Name the case to merge into"),
    "idempotency_conflict": N_("This Idempotency-Key was used for a different request"),
    "export_too_large": N_("Too many rows to export; choose a shorter period"),
    "crs_geojson_only": N_("A coordinate system can be chosen only for GeoJSON"),
    "plan_not_found": N_("No such patrol plan"),
    "plan_ended": N_("The patrol plan has ended"),
    "recurrence_invalid": N_("The recurrence is not valid"),
    "patrol_assignee_invalid": N_("The person holds no duty in this grid"),
    "task_not_found": N_("No such patrol task"),
    "task_window_closed": N_("Outside the task's time window"),
    "task_state_conflict": N_("Not possible in the patrol task's current state"),
    "checkpoint_unknown": N_("The checkpoint is not on this task"),
    "patrol_report_invalid": N_("Only hazards you reported during this patrol can be linked"),
    "internal_error": N_("Internal server error"),
    "unavailable": N_("The service is unavailable"),
    "notification_not_found": N_("No such notification"),
    "quiet_hours_invalid": N_("The quiet hours are not valid"),
    "warning_not_found": N_("No such warning"),
    "warning_closed": N_("The warning is cancelled or has expired"),
    "warning_period_invalid": N_("The warning's period is not valid"),
    "warning_area_invalid": N_("The warning's areas are not valid"),
    "callout_not_found": N_("No such callout"),
    "callout_closed": N_("The callout is cancelled"),
    "callout_no_recipients": N_("Nobody to call out in these areas"),
    "callout_recipient_invalid": N_("A named person holds no duty in these areas"),
    "report_not_urgent": N_("The case is not urgent"),
    "sos_rate_limited": N_("Too many SOS calls from this account; wait a little"),
    "sos_cancel_expired": N_("Too late to cancel this SOS"),
    "response_not_found": N_("No such response record"),
    "response_step_out_of_order": N_("Steps go in order: acknowledge, set off, arrive, finish"),
    "team_not_found": N_("No such rescue team"),
    "team_retired": N_("The rescue team is retired"),
    "shelter_not_found": N_("No such shelter"),
    "shelter_retired": N_("The shelter is retired"),
    "evacuation_not_found": N_("No such evacuation"),
    "evacuation_task_not_found": N_("No such household in this evacuation"),
    "evacuation_scope_required": N_("Name the areas or risk points to evacuate"),
    "evacuation_not_active": N_("The evacuation is not under way"),
    "evacuation_not_proposed": N_("The evacuation is not a proposal waiting for confirmation"),
    "evacuation_status_skip": N_("This status cannot follow the household's current one"),
    "evacuation_note_required": N_("A note is required for a move or safety without contact"),
    "evacuation_destination_invalid": N_("The destination of the move is not valid"),
    "evacuation_task_changed": N_("The household's status changed meanwhile"),
    "evacuation_arrival_invalid": N_("Give a household or a headcount"),
    "evacuation_already_arrived": N_("The household is already checked in at this shelter"),
    "evacuation_household_required": N_("Say which of your households the answer is for"),
    "shelter_not_serving": N_("The shelter does not serve the household's grid"),
    "household_not_found": N_("No such household"),
    "webhook_not_found": N_("No such webhook subscriber"),
    "webhook_url_invalid": N_("The webhook URL cannot be used"),
    "household_retired": N_("The household is retired"),
    "household_exists": N_("This household is already in the grid"),
    "household_grid_invalid": N_("A household belongs to a grid"),
    "household_phone_invalid": N_("Not a valid mobile or landline number"),
    "helper_not_on_duty": N_("The helper holds no duty in or over the household's grid"),
    "ledger_invalid": N_("The ledger has problems; nothing was imported"),
    "ledger_too_large": N_("The ledger file is too large"),
    "qr_code_not_found": N_("No such QR code"),
    "pdf_font_missing": N_("The font for printable PDFs is missing"),
    "route_not_found": N_("No such evacuation route"),
    "route_start_required": N_("Name where the route starts"),
    "risk_map_not_community": N_("A risk map is drawn for a community"),
    "control_characters": N_("The text contains control characters"),
    "date_out_of_range": N_("The date is out of the accepted range"),
    "value_out_of_range": N_("A value is out of the accepted range"),
    "json_too_deep": N_("The JSON is nested too deeply"),
    "encoding_invalid": N_("The body is not valid UTF-8"),
    "too_many_parts": N_("The upload has too many parts"),
    "place_required": N_("Give the place: a map position, a grid or community, or an address"),
    "place_outside_your_areas": N_("The place is outside the areas you cover"),
    "address_not_matched": N_("The address names no grid or community you cover"),
    "place_not_routable": N_("The place has no boundary to route a case into"),
}


class DomainError(Exception):
    """An error the client can act on: a stable code, an HTTP status, optionally a field.

    `detail` is an English message id of the catalogue, its `%(name)s` placeholders filled from
    `params`; `.detail` is the English text, translated at the edge (`problem`)."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 400,
        field: str | None = None,
        detail: str | None = None,
        params: dict[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        assert code in TITLES, code
        self.message_id = detail
        self.params = params or {}
        self.detail = fill(detail, self.params)
        super().__init__(self.detail or code)
        self.code = code
        self.status = status
        self.field = field
        self.errors = errors
        self.headers = headers or {}

    def translated_detail(self) -> str | None:
        """The detail in the current language, or None when the catalogue has no translation."""
        return translated(self.message_id, self.params)


def fill(message: str | None, params: dict[str, Any] | None) -> str | None:
    """A message with its `%(name)s` placeholders filled (as written: no translation)."""
    return message % params if message and params else message


def translated(message: str | None, params: dict[str, Any] | None = None) -> str | None:
    """`message` in the current language, None when it has none there (English always has)."""
    if not message:
        return None
    if i18n.english():
        return fill(message, params)
    found = i18n.catalog(i18n.current_language()).get(message)
    return fill(found, params) if found else None


class NotFound(DomainError):
    def __init__(self, code: str = "not_found", **kw: Any) -> None:
        super().__init__(code, status=404, **kw)


class Forbidden(DomainError):
    def __init__(self, detail: str | None = None, params: dict[str, Any] | None = None) -> None:
        super().__init__("forbidden", status=403, detail=detail, params=params)


class Conflict(DomainError):
    def __init__(self, code: str = "conflict", **kw: Any) -> None:
        super().__init__(code, status=409, **kw)


def invalid(
    field: str,
    detail: str,
    code: str = "validation_failed",
    params: dict[str, Any] | None = None,
) -> DomainError:
    """A 422 for one field, listed the same way as schema validation errors (in English)."""
    return DomainError(
        code,
        status=422,
        field=field,
        detail=detail,
        params=params,
        errors=[{"field": field, "code": code, "message": fill(detail, params)}],
    )


def filled(field: str, value: str) -> str:
    """The text without its surrounding blanks; 422 `required` on `field` when nothing is
    left (a name of spaces passes `min_length` but names nothing)."""
    text = value.strip()
    if not text:
        raise invalid(field, "required")
    return text


def problem(
    request: Request[Any, Any, Any],
    *,
    code: str,
    status: int,
    detail: str | None = None,
    params: dict[str, Any] | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    translate: bool = True,
) -> Response[dict[str, Any]]:
    """The problem+json answer, its title and detail in the caller's language (Accept-Language:
    English only when preferred). A detail the catalogue does not translate stays in English;
    `translate=False` keeps a library's own detail as it is."""
    with i18n.language(i18n.pick_accept_language(request.headers.get("accept-language"))):
        title = i18n.gettext(TITLES.get(code, TITLES["bad_request"]))
        text = (translated(detail, params) if translate else None) or fill(detail, params)
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    if text:
        body["detail"] = text
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_domain_error(
    request: Request[Any, Any, Any], exc: DomainError
) -> Response[dict[str, Any]]:
    return problem(
        request,
        code=exc.code,
        status=exc.status,
        detail=exc.message_id,
        params=exc.params,
        errors=exc.errors,
        headers=exc.headers,
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    503: "unavailable",
}


_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_POST_INIT_FIELD = re.compile(r"^(\w+): (.*)$", re.S)  # raised by core.types.Input
_MISSING = re.compile(r"Missing required (\w+) parameter '([^']+)'")


def _field_of(key: str | None, source: str | None) -> str:
    if not key:
        return "body" if source in (None, "body") else source
    return key.removeprefix("$.")


def validation_item(message: str, field: str = "") -> dict[str, str]:
    """One entry of errors[] from a msgspec message: the field it names, a code, the text."""
    message, found, path = message.rpartition(" - at `$.")
    if not found:  # an error at the top level carries no path
        message, path = path, ""
    field = path.rstrip("`") or field
    named = _NAMED_FIELD.search(message)
    if named:  # the field that is missing or to remove, not the object holding it
        field = (
            f"{field}.{named.group(1)}"
            if field and field not in ("data", "body")
            else named.group(1)
        )
    checked = _POST_INIT_FIELD.match(message)
    if checked:  # a field checked after decoding (core.types.Input)
        name, message = checked.groups()
        field = f"{field}.{name}" if field and field not in ("data", "body") else name
    code = "invalid"
    if ("matching regex" in message and "x00" in message) or message == types.CONTROL_MESSAGE:
        code, message = "control_characters", types.CONTROL_MESSAGE
    elif message.startswith("must be between"):
        code = "date_out_of_range"
    return {"field": field or "body", "code": code, "message": message}


def handle_http_exception(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    if isinstance(exc, ValidationException):
        errors = []
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                field = _field_of(item.get("key"), item.get("source"))
                errors.append(validation_item(str(item.get("message", "")), field))
        detail = exc.detail if exc.detail and exc.detail != "Bad Request" else None
        if detail and detail.startswith("Validation failed for"):
            detail = None  # the title and errors[] say it, in the caller's language
        missing = _MISSING.match(detail or "")
        if missing:  # Litestar names a missing parameter only in its message
            kind, name = missing.groups()
            detail = f"the {kind} parameter {name!r} is required"  # English only, as ever
            errors.append({"field": name, "code": "missing", "message": "required"})
        return problem(
            request,
            code="validation_failed",
            status=422,
            detail=detail,
            errors=errors or None,
            translate=False,
        )
    status = exc.status_code
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    detail = exc.detail if status < 500 else None
    return problem(
        request,
        code=code,
        status=status,
        detail=detail,
        headers=dict(exc.headers or {}),
        translate=False,
    )


# A value the edge should have refused and did not: the database or date arithmetic says so.
# Answer 422, not 500, and log it, so the missed field gets its edge type.
_OUT_OF_RANGE = (
    "NumericValueOutOfRangeError",  # asyncpg: int4 out of range
    "DatetimeFieldOverflowError",
    "CharacterNotInRepertoireError",  # asyncpg: NUL in text
    "UntranslatableCharacterError",
    "InvalidTextRepresentationError",
    "DataError",  # asyncpg and sqlite3 base class of the above
)


def _out_of_range(exc: BaseException) -> bool:
    if isinstance(exc, OverflowError):  # sqlite3 ints beyond 2^63, date + timedelta
        return True
    return any(cls.__name__ in _OUT_OF_RANGE for cls in type(exc).__mro__)


ENCODING_INVALID = DomainError(
    "encoding_invalid",
    status=400,
    field="body",
    detail="the body is not valid UTF-8",
)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if isinstance(exc, UnicodeDecodeError):  # a body or form field that is not UTF-8
        return handle_domain_error(request, ENCODING_INVALID)
    if isinstance(exc, RecursionError) and "deserializ" in str(exc):
        # msgspec stops at the interpreter's recursion limit (about 1,000 levels), cheaply
        return problem(
            request,
            code="json_too_deep",
            status=400,
            detail="JSON may nest at most about 1,000 levels",
        )
    if _out_of_range(exc):
        logger.warning("value out of range on %s %s: %r", request.method, request.url.path, exc)
        return problem(request, code="value_out_of_range", status=422)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(request, code="internal_error", status=500)


EXCEPTION_HANDLERS = {
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}

__all__ = [
    "PROBLEM_JSON",
    "Conflict",
    "DomainError",
    "Forbidden",
    "MediaType",
    "NotFound",
    "invalid",
]
