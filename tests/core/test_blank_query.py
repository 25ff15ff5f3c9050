"""Empty query values mean "no filter": the one middleware drops them before parsing."""

from __future__ import annotations

import pytest
from factories import G1, make_person, make_tree

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


async def test_every_list_endpoint_reads_blank_values_as_no_filter(client):
    """Not only the case list: the middleware sits in front of every endpoint."""
    await make_tree()
    supervisor = await make_person(("supervisor", "500103"))
    await make_person(("grid_worker", G1))
    for path, blank in (
        ("/api/v1/assignments", "area_id=&account_id=&active_on=&duty=&cursor=&limit="),
        ("/api/v1/reports", "assignee_id=&area_id=&created_from=&overdue=&sort=&due_on="),
    ):
        plain = await client.get(path, headers=supervisor.headers)
        assert plain.status_code == 200, plain.text
        answer = await client.get(f"{path}?{blank}", headers=supervisor.headers)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json() == plain.json()
    assert (
        len(
            (await client.get("/api/v1/assignments?area_id=", headers=supervisor.headers)).json()[
                "items"
            ]
        )
        == 2
    )
