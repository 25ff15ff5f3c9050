"""Live case alerts across replicas (Redis fan-out): an urgent case filed through one replica
rings on a console connected to the other, and only there; "seen" on the other replica lowers
it on the first. Needs Redis (see tests/notify/test_events_redis.py)."""

from __future__ import annotations

import asyncio

import httpx
from factories import T1, T2, make_person, make_tree, upload_photo

from grid_backend.notify import services

from .test_events_redis import (  # noqa: F401  # the replicas' fixtures
    Stream,
    redis_settings,
    replica_a,
    replica_b,
)


async def next_case_event(stream: Stream, wait: float = 5.0) -> dict | None:
    """The next `case.*` event (the inbox notifications of the urgent alert pass by)."""
    while (got := await stream.next_event(wait)) is not None:
        if got["event"].startswith("case."):
            return got
    return None


async def test_an_urgent_case_filed_on_one_replica_rings_on_the_other(replica_a, replica_b):  # noqa: F811
    await make_tree()
    resident = await make_person()
    t1 = await make_person(("dispatcher", T1))
    t2 = await make_person(("dispatcher", T2))
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", f"{replica_b}/api/v1/events", headers=t1.headers) as t1_on_b,
        http.stream("GET", f"{replica_b}/api/v1/events", headers=t2.headers) as t2_on_b,
        http.stream("GET", f"{replica_a}/api/v1/events", headers=t1.headers) as t1_on_a,
    ):
        streams = [Stream(s.aiter_lines()) for s in (t1_on_b, t2_on_b, t1_on_a)]
        t1_b, t2_b, t1_a = streams
        await asyncio.wait_for(asyncio.gather(*(s.connected() for s in streams)), 10)

        async with httpx.AsyncClient(base_url=replica_a, timeout=10) as a:
            photo = await upload_photo(a, resident)
            r = await a.post(
                "/api/v1/reports",
                headers=resident.headers,
                json={
                    "category": "gas",
                    "description": "燃气泄漏，已有人员被困",
                    "location": {"lat": 29.52, "lng": 106.52},  # in G1, township T1
                    "photo_ids": [photo],
                    "urgent": True,
                    "reporter_safe": False,
                },
            )
            assert r.status_code == 201, r.text
            case_id = r.json()["id"]

        got = await next_case_event(t1_b)
        assert got is not None, "the alert did not cross replicas"
        assert got["event"] == "case.urgent" and got["case_id"] == case_id
        assert (await next_case_event(t1_a))["event"] == "case.urgent"

        seen = await http.post(f"{replica_b}/api/v1/reports/{case_id}/seen", headers=t1.headers)
        assert seen.status_code == 200, seen.text
        for stream in (t1_a, t1_b):
            got = await next_case_event(stream)
            assert got["event"] == "case.seen" and got["seen_by_id"] == t1.id
        # another township's console heard neither: its next event is the marker sent now
        services.publish([t2.id], {"type": "case.marker", "case_id": 0})
        assert (await next_case_event(t2_b))["event"] == "case.marker"
