"""Constrained types for everything that enters at the edge (bodies, paths, queries).

The database decides the bounds: every id column (Piccolo `Serial` and `ForeignKey`) is a
4-byte integer on PostgreSQL, so an id beyond 2^31 − 1 cannot exist and would make the driver
raise; PostgreSQL text cannot hold NUL, and no name or note needs other control characters;
dates outside `DATE_MIN`..`DATE_MAX` overflow date arithmetic (a period's end + 1 day) long
before they mean anything to a street office. Out-of-range input is a 422 naming the field."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from litestar.params import Parameter, QueryParameter

# what a position's coordinates are drawn in: raw GPS, the AMap/Tencent offset, Baidu's (core.geo)
Datum = Literal["wgs84", "gcj02", "bd09"]
DatumParam = Annotated[Datum, QueryParameter(description="datum of the coordinates returned")]

MAX_ID = 2**31 - 1  # int4: PostgreSQL serial and foreign-key columns

# one line: no control character at all; multi-line text may keep tab, newline and return
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"

DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2100, 12, 31)

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="an id (1 to 2^31 − 1)")]
Line = Annotated[str, msgspec.Meta(pattern=LINE_PATTERN)]  # names, codes, phone numbers
Text = Annotated[str, msgspec.Meta(pattern=TEXT_PATTERN)]  # descriptions, notes, messages

PathId = Annotated[int, Parameter(ge=1, le=MAX_ID, description="an id (1 to 2^31 − 1)")]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID, description="an id")]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_MESSAGE = "must not contain control characters"


def in_window(field: str, value: date | datetime | None) -> None:
    """Refuse a date or time outside DATE_MIN..DATE_MAX (422 naming `field`)."""
    from grid_backend.core.errors import invalid

    if value is None:
        return
    day = value.date() if isinstance(value, datetime) else value
    if not DATE_MIN <= day <= DATE_MAX:
        raise invalid(
            field,
            "must be between %(min)s and %(max)s",
            code="date_out_of_range",
            params={"min": DATE_MIN, "max": DATE_MAX},
        )


class Input(msgspec.Struct, forbid_unknown_fields=True):
    """Base of every request body: unknown fields are refused, and text, ids and dates are
    checked again after decoding, so a field declared with a plain type is still bounded."""

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            _check(name, getattr(self, name))


def _check(name: str, value: object) -> None:
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise ValueError(f"{name}: {CONTROL_MESSAGE}")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if (name == "into" or name.endswith(("_id", "_ids"))) and not 1 <= value <= MAX_ID:
            raise ValueError(f"{name}: must be an id from 1 to {MAX_ID}")
    elif isinstance(value, date):
        day = value.date() if isinstance(value, datetime) else value
        if not DATE_MIN <= day <= DATE_MAX:
            raise ValueError(f"{name}: must be between {DATE_MIN} and {DATE_MAX}")
    elif isinstance(value, list | tuple):
        for item in value:
            _check(name, item)


# shared by every domain that places or names things
class AreaRef(msgspec.Struct):
    """An area as a reference: enough to show and link it."""

    id: int
    code: str
    name: str


class LocationIn(Input):
    """A position as a phone or a map gives it, in any supported datum."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lng: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    datum: Datum = "wgs84"
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None
    source: Literal["gps", "network", "map_pick", "exif", "manual", "qr"] = "gps"
    is_mock: bool = False
