"""Empty query values mean "no filter": the one middleware drops them before parsing."""

from __future__ import annotations

import pytest

from grid_backend.core.blank_query import without_blanks


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (b"", b""),
        (b"a=1", b"a=1"),
        (b"a=&b=2", b"b=2"),
        (b"a=+&b=%20&c", b""),  # spaces only, or no value at all
        (b"status=&status=open&from=", b"status=open"),
        (b"q=%E7%87%83%E6%B0%94&sort=", b"q=%E7%87%83%E6%B0%94"),  # kept byte for byte
        (b"q=a+b&x=0", b"q=a+b&x=0"),  # a zero is a value
    ],
)
def test_blank_pairs_are_dropped_and_the_rest_kept(raw, kept):
    assert without_blanks(raw) == kept
