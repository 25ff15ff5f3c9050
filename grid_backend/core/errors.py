"""One family of domain errors, rendered as RFC 9457 problem+json in zh-CN or English."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException

from grid_backend.core import types
from grid_backend.core.i18n import wants_english

logger = logging.getLogger("grid_backend")

PROBLEM_JSON = "application/problem+json"

# code -> (zh-CN title, English title). Codes are stable: clients branch on them.
TITLES: dict[str, tuple[str, str]] = {
    "validation_failed": ("请求参数不正确", "The request is not valid"),
    "bad_request": ("请求无法处理", "The request cannot be processed"),
    "unauthenticated": ("请先登录", "Authentication is required"),
    "token_invalid": ("登录凭证无效或已过期", "The token is invalid or has expired"),
    "refresh_token_reused": (
        "登录凭证已被使用，请重新登录",
        "The refresh token was already used; sign in again",
    ),
    "invalid_credentials": ("手机号或密码错误", "Wrong phone number or password"),
    "account_disabled": ("账号已停用", "The account is disabled"),
    "rate_limited": ("尝试过于频繁，请稍后再试", "Too many attempts; try again later"),
    "forbidden": ("无权执行此操作", "You are not allowed to do this"),
    "csrf_failed": ("页面已过期，请刷新后重试", "The page has expired; reload it and try again"),
    "not_found": ("资源不存在", "Not found"),
    "method_not_allowed": ("不支持此请求方法", "Method not allowed"),
    "conflict": ("与现有数据冲突", "Conflicts with existing data"),
    "phone_invalid": ("手机号格式不正确", "Not a valid mainland China mobile number"),
    "phone_taken": ("该手机号已注册", "This phone number is already registered"),
    "password_weak": ("密码强度不够", "The password is too weak"),
    "code_invalid": ("验证码错误或已失效", "The code is wrong or has expired"),
    "area_not_found": ("区域不存在", "No such area"),
    "area_code_unknown": ("区域编码不存在", "Unknown area code"),
    "duty_area_mismatch": ("该职责不能设在此级区域", "This duty cannot be held at this area level"),
    "duty_unknown": ("未知职责", "Unknown duty"),
    "outside_all_grids": ("该位置不在任何网格内", "The position is outside every grid"),
    "coordinates_out_of_range": ("坐标超出范围", "Coordinates are out of range"),
    "datum_unknown": ("未知坐标系", "Unknown datum"),
    "geojson_invalid": ("GeoJSON 数据不正确", "The GeoJSON is not valid"),
    "geometry_invalid": ("边界几何图形不正确", "The boundary geometry is not valid"),
    "area_tree_invalid": ("区域层级关系不正确", "The area tree is not valid"),
    "payload_too_large": ("上传内容过大", "The request body is too large"),
    "risk_point_not_found": ("风险点位不存在", "No such risk point"),
    "assignment_not_found": ("职责分配不存在", "No such assignment"),
    "photo_type_unsupported": ("不支持的图片格式", "Not a JPEG, PNG, WebP or HEIC photo"),
    "photo_too_large": ("照片文件过大", "The photo file is too large"),
    "photo_too_many_pixels": ("照片像素过多", "The photo has too many pixels"),
    "photo_corrupt": ("照片已损坏", "The photo is damaged"),
    "server_busy": ("服务器繁忙，请稍后重试", "The server is busy; try again shortly"),
    "photo_truncated": ("照片不完整", "The photo is incomplete"),
    "photo_required": ("请上传照片", "A photo is required"),
    "photo_count_exceeded": ("照片数量超过上限", "Too many photos"),
    "photo_not_yours": ("只能使用本人上传的照片", "Photos must be uploaded by you"),
    "photo_not_found": ("照片不存在", "No such photo"),
    "category_unknown": ("未知隐患类别", "Unknown hazard category"),
    "reporter_safe_required": ("请确认您是否安全", "Confirm whether you are safe"),
    "report_not_found": ("案件不存在", "No such case"),
    "report_not_open": ("案件不在办理中", "The case is not open"),
    "report_own": ("这是您本人的上报", "You reported this case"),
    "support_not_plausible": (
        "只能附议您附近或系统向您推荐的隐患",
        "You can only support a case near your own reports or one offered to you",
    ),
    "report_changed": ("案件已被他人更新", "The case changed meanwhile"),
    "action_not_allowed": ("当前状态下不能执行该操作", "Not possible in the case's current state"),
    "reason_required": ("请填写原因", "A reason is required"),
    "supervision_required": (
        "重大隐患须先挂牌督办",
        "A major hazard needs its supervision listing",
    ),
    "dispatch_target_required": ("请指定承办对象", "Name whom to dispatch the case to"),
    "assignee_invalid": ("承办人不在本辖区", "The assignee holds no duty here"),
    "merge_target_required": ("请指定合并目标", "Name the case to merge into"),
    "idempotency_conflict": (
        "重复提交的内容不一致",
        "This Idempotency-Key was used for a different request",
    ),
    "export_too_large": (
        "导出内容过多，请缩短期间",
        "Too many rows to export; choose a shorter period",
    ),
    "plan_not_found": ("巡查计划不存在", "No such patrol plan"),
    "plan_ended": ("巡查计划已结束", "The patrol plan has ended"),
    "recurrence_invalid": ("巡查周期设置不正确", "The recurrence is not valid"),
    "patrol_assignee_invalid": ("该人员不在此网格任职", "The person holds no duty in this grid"),
    "task_not_found": ("巡查任务不存在", "No such patrol task"),
    "task_window_closed": ("不在巡查时段内", "Outside the task's time window"),
    "task_state_conflict": (
        "巡查任务当前状态下不能执行该操作",
        "Not possible in the patrol task's current state",
    ),
    "checkpoint_unknown": ("巡查点不属于该任务", "The checkpoint is not on this task"),
    "patrol_report_invalid": (
        "只能关联本人在巡查期间上报的隐患",
        "Only hazards you reported during this patrol can be linked",
    ),
    "internal_error": ("服务器内部错误", "Internal server error"),
    "unavailable": ("服务暂不可用", "The service is unavailable"),
    "notification_not_found": ("通知不存在", "No such notification"),
    "quiet_hours_invalid": ("免打扰时段设置不正确", "The quiet hours are not valid"),
    "warning_not_found": ("预警不存在", "No such warning"),
    "warning_closed": ("预警已解除或已过期", "The warning is cancelled or has expired"),
    "warning_period_invalid": ("预警起止时间不正确", "The warning's period is not valid"),
    "warning_area_invalid": ("预警区域不正确", "The warning's areas are not valid"),
    "callout_not_found": ("叫应不存在", "No such callout"),
    "callout_closed": ("叫应已取消", "The callout is cancelled"),
    "callout_no_recipients": ("没有可叫应的人员", "Nobody to call out in these areas"),
    "callout_recipient_invalid": (
        "被叫应人员不在这些区域任职",
        "A named person holds no duty in these areas",
    ),
    "report_not_urgent": ("该案件不是紧急险情", "The case is not urgent"),
    "response_not_found": ("响应记录不存在", "No such response record"),
    "response_step_out_of_order": (
        "请按顺序记录：收到、出发、到达、完成",
        "Steps go in order: acknowledge, set off, arrive, finish",
    ),
    "team_not_found": ("救援队伍不存在", "No such rescue team"),
    "team_retired": ("救援队伍已停用", "The rescue team is retired"),
    "control_characters": ("内容含有不允许的控制字符", "The text contains control characters"),
    "date_out_of_range": ("日期超出允许范围", "The date is out of the accepted range"),
    "value_out_of_range": ("数值超出允许范围", "A value is out of the accepted range"),
    "json_too_deep": ("JSON 嵌套层级过深", "The JSON is nested too deeply"),
    "encoding_invalid": ("内容不是合法的 UTF-8 文本", "The body is not valid UTF-8"),
    "too_many_parts": ("上传内容的字段过多", "The upload has too many parts"),
}


class DomainError(Exception):
    """An error the client can act on: a stable code, an HTTP status, optionally a field."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 400,
        field: str | None = None,
        detail: str | None = None,
        detail_zh: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        assert code in TITLES, code
        super().__init__(detail or code)
        self.code = code
        self.status = status
        self.field = field
        self.detail = detail
        self.detail_zh = detail_zh
        self.errors = errors
        self.headers = headers or {}


class NotFound(DomainError):
    def __init__(self, code: str = "not_found", **kw: Any) -> None:
        super().__init__(code, status=404, **kw)


class Forbidden(DomainError):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__("forbidden", status=403, detail=detail)


class Conflict(DomainError):
    def __init__(self, code: str = "conflict", **kw: Any) -> None:
        super().__init__(code, status=409, **kw)


def invalid(
    field: str, detail: str, code: str = "validation_failed", detail_zh: str | None = None
) -> DomainError:
    """A 422 for one field, listed the same way as schema validation errors."""
    return DomainError(
        code,
        status=422,
        field=field,
        detail=detail,
        detail_zh=detail_zh,
        errors=[{"field": field, "code": code, "message": detail}],
    )


def problem(
    request: Request[Any, Any, Any],
    *,
    code: str,
    status: int,
    detail: str | None = None,
    detail_zh: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    english = wants_english(request.headers.get("accept-language"))
    zh, en = TITLES.get(code, TITLES["bad_request"])
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": en if english else zh,
        "status": status,
        "code": code,
        "instance": request.url.path,
    }
    text = detail if english or not detail_zh else detail_zh
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
        detail=exc.detail,
        detail_zh=exc.detail_zh,
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
            detail = f"the {kind} parameter {name!r} is required"
            errors.append({"field": name, "code": "missing", "message": "required"})
        return problem(
            request, code="validation_failed", status=422, detail=detail, errors=errors or None
        )
    status = exc.status_code
    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    detail = exc.detail if status < 500 else None
    return problem(
        request, code=code, status=status, detail=detail, headers=dict(exc.headers or {})
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
    detail_zh="请求内容不是合法的 UTF-8 编码",
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
            detail_zh="JSON 嵌套不能超过约 1000 层",
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
