"""The one cursor codec: what a page ends with is exactly where the next one starts, and a
cursor the server did not issue is a 422 on the `cursor` field, never a 500."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from grid_backend.core.errors import DomainError
from grid_backend.core.pagination import decode, decode_due_cursor, encode, encode_due_cursor


def test_moments_and_ids_come_back_exactly():
    moment = datetime(2026, 12, 5, 3, 4, 5, 999_999, tzinfo=UTC)
    assert decode(encode("w", moment, 42), "w", "time", "id") == (moment, 42)
    assert decode_due_cursor(encode_due_cursor(moment, 7)) == (moment, 7)
    assert decode_due_cursor(encode_due_cursor(None, 7)) == (None, 7)
    assert decode(encode("u", 1, None, 9), "u", "flag", "time?", "id") == (True, None, 9)
    assert decode(encode("u", 0, moment, 9), "u", "flag", "time?", "id") == (False, moment, 9)
    assert decode(None, "w", "time", "id") is None
    assert decode("", "w", "time", "id") is None


@pytest.mark.parametrize(
    "raw",
    [
        "i:1",  # another list's cursor
        "w:12",  # too few keys
        "w:12:1:2",  # too many
        "w:x:1",  # not a moment
        "w:12:0",  # not an id
        "w:12:2147483648",  # past the id range
        "w::1",  # a moment that may not be absent here
        "w:99999999999999999999999:1",  # out of range for a datetime
    ],
)
def test_a_cursor_the_server_did_not_issue_is_refused(raw):
    cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    with pytest.raises(DomainError) as caught:
        decode(cursor, "w", "time", "id")
    assert (caught.value.status, caught.value.field) == (422, "cursor")
    with pytest.raises(DomainError):
        decode("%%%not base64", "w", "time", "id")
