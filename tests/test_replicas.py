"""Two replicas: two `grid-backend serve` processes (A and B) on their own ports, on one
PostgreSQL database, one Redis (a prefix of the module's own) and one S3 bucket (moto's
server), each running its scheduler. What a deployment behind a load balancer relies on: whichever replica a
request lands on, the answer is the same, and killing one loses nothing.

PostgreSQL only by nature (SQLite is one process by design): on SQLite the one test here checks
that several processes are refused. Under CI=true a missing Redis fails (require_redis)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from factories import (
    G1,
    IMAGES,
    PASSWORD,
    POINT_IN,
    REDIS_URL,
    T1,
    Person,
    make_person,
    make_tree,
    require_redis,
)
from servers import Server, events_of, serve

from grid_backend.settings import get_settings

ENGINE = get_settings().engine
NOTIFY_INTERVAL = 0.5  # notify.deliver's ticks here: many in a few seconds


@pytest.fixture(scope="module")
def replica_media_env(s3_endpoint) -> dict[str, str]:
    """Where the replicas keep photos: one bucket of the S3-protocol server (moto, started by
    conftest's s3_endpoint with the AWS_* credentials in the environment), under a key prefix
    of this module's own. Each replica spools uploads in a local folder of its own (serve_one),
    so B can only serve A's photo from the bucket."""
    from s3server import BUCKET, CREDENTIALS

    return {
        **CREDENTIALS,
        "GRID_MEDIA_STORE": "s3",
        "GRID_S3_BUCKET": BUCKET,
        "GRID_S3_ENDPOINT_URL": s3_endpoint,
        "GRID_S3_REGION": "us-east-1",
        "GRID_S3_PREFIX": f"replicas-{uuid.uuid4().hex[:8]}",
    }


@dataclass
class Replicas:
    a: Server
    b: Server
    env: dict[str, str]  # what a further replica of the same deployment is started with

    @contextlib.asynccontextmanager
    async def serve_one(self) -> AsyncIterator[Server]:
        """One more replica, with a local folder of its own."""
        with tempfile.TemporaryDirectory(prefix="grid-replica-") as own:
            async with serve({**self.env, "GRID_MEDIA_ROOT": own}) as server:
                yield server


@pytest.fixture(scope="module")
async def replicas(empty_database, replica_media_env) -> AsyncIterator[Replicas]:
    """A and B for the module's tests (each test makes its own people), started once the toy
    tree exists: a change made by another process (this one) reaches them only after
    GRID_INDEX_REFRESH_SECONDS. The tests do not empty the database while they run."""
    await require_redis(REDIS_URL)
    await empty_database()
    await make_tree()
    env = {
        **replica_media_env,
        "GRID_REDIS_URL": REDIS_URL,
        "GRID_REDIS_PREFIX": f"test-replicas-{uuid.uuid4().hex[:8]}",
        "GRID_SCHEDULER": "true",
        "GRID_NOTIFY_INTERVAL_SECONDS": str(NOTIFY_INTERVAL),
    }
    async with contextlib.AsyncExitStack() as stack:
        pair = Replicas(None, None, env)  # type: ignore[arg-type]  # started just below
        # both started before either failure is raised, so the stack stops whichever started
        started = await asyncio.gather(
            stack.enter_async_context(pair.serve_one()),
            stack.enter_async_context(pair.serve_one()),
            return_exceptions=True,
        )
        for outcome in started:
            if isinstance(outcome, BaseException):
                raise outcome
        a, b = pair.a, pair.b = started  # type: ignore[assignment]  # no exception left
        yield pair
    for server in (a, b):  # stopped cleanly: no error in either log
        assert "Traceback" not in server.log() and "ERROR" not in server.log(), server.log()


def _photo(n: int) -> bytes:
    """A small JPEG of its own for submission n (distinct bytes, so distinct photos)."""
    from PIL import Image

    image = Image.new("RGB", (320, 240), ((n * 37) % 256, (n * 91) % 256, (n * 53) % 256))
    image.putpixel((n % 320, n % 240), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


async def _upload(http: httpx.AsyncClient, url: str, who: Person, data: bytes) -> int:
    r = await http.post(
        f"{url}/api/v1/media", headers=who.headers, files={"file": ("p.jpg", data, "image/jpeg")}
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["id"]


def _report(photo_ids: list[int]) -> dict:
    lat, lng = POINT_IN[G1]
    return {
        "category": "gas",
        "description": "燃气管道漏气",
        "location": {"lat": lat, "lng": lng},
        "photo_ids": photo_ids,
        "reporter_safe": True,
    }


if ENGINE == "sqlite":

    def test_replicas_need_postgresql():
        """SQLite serves one process: `serve --workers 2` refuses to start on it."""
        import subprocess
        import sys

        refused = subprocess.run(
            [sys.executable, "-m", "grid_backend.cli", "serve", "--workers", "2"],
            env={**__import__("os").environ, "GRID_REDIS_URL": REDIS_URL},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 2
        assert "GRID_WORKERS" in refused.stderr and "PostgreSQL" in refused.stderr

else:

    async def test_a_photo_uploaded_through_a_is_served_by_b(replicas):
        me = await make_person()
        async with httpx.AsyncClient(timeout=10) as http:
            photo = await _upload(http, replicas.a.url, me, (IMAGES / "hopper.jpg").read_bytes())
            on_a = await http.get(
                f"{replicas.a.url}/api/v1/media/{photo}/display", headers=me.headers
            )
            on_b = await http.get(
                f"{replicas.b.url}/api/v1/media/{photo}/display", headers=me.headers
            )
            assert on_a.status_code == on_b.status_code == 200
            assert on_b.headers["content-type"] == "image/jpeg"
            assert on_b.content == on_a.content and on_b.content[:2] == b"\xff\xd8"
            assert on_b.headers["etag"] == on_a.headers["etag"]
            # from the bucket (each replica's own folder only spools uploads); moto does not
            # check signatures, so a plain listing shows what the store holds
            env = replicas.env
            listing = await http.get(
                f"{env['GRID_S3_ENDPOINT_URL']}/{env['GRID_S3_BUCKET']}",
                params={"list-type": "2", "prefix": env["GRID_S3_PREFIX"] + "/"},
            )
            assert listing.text.count("<Key>") >= 3  # original, display copy, thumbnail

    async def test_a_report_replayed_on_b_returns_the_case_filed_on_a(replicas):
        me = await make_person()
        key = f"replay-{uuid.uuid4().hex}"
        async with httpx.AsyncClient(timeout=10) as http:
            body = _report([await _upload(http, replicas.a.url, me, _photo(1))])
            headers = {**me.headers, "Idempotency-Key": key}
            first = await http.post(f"{replicas.a.url}/api/v1/reports", json=body, headers=headers)
            assert first.status_code == 201, first.text
            again = await http.post(f"{replicas.b.url}/api/v1/reports", json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json()["id"] == first.json()["id"]
            # the same key for another report is refused on either replica
            other = {**body, "description": "另一处漏气"}
            r = await http.post(f"{replicas.b.url}/api/v1/reports", json=other, headers=headers)
            assert r.status_code == 409 and r.json()["code"] == "idempotency_conflict"
            mine = await http.get(f"{replicas.b.url}/api/v1/me/reports", headers=me.headers)
            assert [c["id"] for c in mine.json()["items"]] == [first.json()["id"]]

    async def test_sign_in_failures_on_a_slow_the_phone_down_on_b(replicas):
        free = get_settings().login_free_failures_per_phone
        async with httpx.AsyncClient(timeout=10) as http:

            async def login(url: str, who: Person, password: str) -> httpx.Response:
                return await http.post(
                    f"{url}/api/v1/auth/login", json={"phone": who.phone, "password": password}
                )

            async def slowed(url: str, who: Person, since: float, wait: int) -> bool | None:
                """Whether the right password was refused for the turn, or None when this
                (loaded) machine took longer than the turn to ask: then nothing is shown."""
                answer = await login(url, who, PASSWORD)
                # (a margin for the answer that recorded the failure to reach this client)
                if answer.status_code == 200 and time.monotonic() - since >= wait - 0.3:
                    return None
                assert answer.status_code == 429, answer.text
                assert answer.json()["code"] == "rate_limited"
                assert answer.headers["retry-after"] == str(wait)
                return True

            async def scenario() -> bool:
                me, other = await make_person(), await make_person()
                for _ in range(free):
                    assert (await login(replicas.a.url, me, "wrong-Password1")).status_code == 401
                # B knows: the phone's next turn is a second away, even for the right password
                if await slowed(replicas.b.url, me, time.monotonic(), 1) is None:
                    return False
                # another phone is not slowed
                assert (await login(replicas.b.url, other, PASSWORD)).status_code == 200
                # the turn comes; a wrong guess on B takes it, and A makes the next one wait 2 s
                await asyncio.sleep(1.1)
                assert (await login(replicas.b.url, me, "wrong-Password2")).status_code == 401
                if await slowed(replicas.a.url, me, time.monotonic(), 2) is None:
                    return False
                # the owner gets in, on either replica, once the turn comes
                await asyncio.sleep(2.1)
                assert (await login(replicas.a.url, me, PASSWORD)).status_code == 200
                return True

            for _ in range(3):
                if await scenario():
                    break
            else:
                pytest.fail("three times the replicas were asked only after the turn had come")

    async def test_an_event_raised_on_a_reaches_a_stream_on_b(replicas):
        resident, dispatcher = await make_person(), await make_person(("dispatcher", T1))
        async with (
            httpx.AsyncClient(timeout=10) as http,
            events_of(http, replicas.b.url, dispatcher.headers) as console_on_b,
        ):
            body = _report([await _upload(http, replicas.a.url, resident, _photo(2))])
            r = await http.post(
                f"{replicas.a.url}/api/v1/reports", json=body, headers=resident.headers
            )
            assert r.status_code == 201, r.text
            got = await console_on_b.next_event(wait=10)
            assert got is not None, "the event raised on A did not reach B"
            assert got["event"] == "case.new" and got["case_id"] == r.json()["id"]

    async def test_each_scheduler_tick_runs_once_with_both_replicas_scheduling(replicas):
        from grid_backend.core.tables import JobLease
        from grid_backend.scheduler import JOBS, TICKS_FROM

        async def leases() -> dict[str, dict]:
            rows = await JobLease.select(
                JobLease.job_id, JobLease.runs, JobLease.holder, JobLease.last_started_at
            ).run()
            return {row["job_id"]: row for row in rows}

        def ticks_between(start: datetime, end: datetime, seconds: float) -> int:
            """Multiples of `seconds` since TICKS_FROM in (start, end]."""
            since = (start - TICKS_FROM).total_seconds(), (end - TICKS_FROM).total_seconds()
            return math.floor(since[1] / seconds) - math.floor(since[0] / seconds)

        start, before = datetime.now(UTC), await leases()
        holders: set[str] = set()
        while datetime.now(UTC) - start < timedelta(seconds=6):
            holders |= {r["holder"] for r in (await leases()).values() if r["holder"]}
            await asyncio.sleep(0.1)
        end, after = datetime.now(UTC), await leases()

        deliver = after["notify.deliver"]["runs"] - before.get("notify.deliver", {}).get("runs", 0)
        ticks = ticks_between(start, end, NOTIFY_INTERVAL)
        # every tick ran (give or take the one in flight at each end), and none twice
        assert ticks // 3 <= deliver <= ticks + 1, (deliver, ticks)
        for job in JOBS:  # the others: at most their ticks in the window (mostly none)
            if job.id == "notify.deliver":
                continue
            trigger, runs = job.trigger(), 0
            fire = trigger.get_next_fire_time(None, start - timedelta(seconds=1))
            while fire is not None and fire <= end:
                runs += 1
                fire = trigger.get_next_fire_time(fire, fire)
            done = after.get(job.id, {}).get("runs", 0) - before.get(job.id, {}).get("runs", 0)
            assert done <= runs, (job.id, done, runs)
        assert holders  # the leases were taken by the replicas' schedulers

    async def test_a_replica_killed_mid_burst_loses_and_repeats_nothing(replicas):
        """Residents submit reports with a photo each, with an Idempotency-Key, to a replica
        of their own here (A2, so that A lives on for the module's other tests); it dies
        (SIGKILL) with requests in flight; each client retries what failed on B."""
        async with replicas.serve_one() as doomed:
            await _burst(doomed, replicas.b)

    async def _burst(doomed: Server, survivor: Server) -> None:
        from grid_backend.core.db import fetch
        from grid_backend.core.sql import q

        people = [await make_person() for _ in range(4)]
        per_person = 4
        sent_to_a = 0
        kill_now = asyncio.Event()
        answers: dict[str, int] = {}
        retried: list[str] = []

        async def submit(http: httpx.AsyncClient, who: Person, n: int) -> None:
            nonlocal sent_to_a
            key = f"burst-{uuid.uuid4().hex}"
            photo_ids: list[int] | None = None
            for url in (doomed.url, survivor.url):  # B only once A failed
                try:
                    if photo_ids is None:
                        photo_ids = [await _upload(http, url, who, _photo(10 + n))]
                    if url == doomed.url:
                        sent_to_a += 1
                        if sent_to_a == 6:
                            kill_now.set()
                    r = await http.post(
                        f"{url}/api/v1/reports",
                        json=_report(photo_ids),
                        headers={**who.headers, "Idempotency-Key": key},
                    )
                except httpx.TransportError:
                    retried.append(key)
                    continue
                assert r.status_code in (200, 201), r.text
                answers[key] = r.json()["id"]
                return
            pytest.fail(f"submission {key} failed on both replicas")

        async def client(who: Person, first: int) -> None:
            async with httpx.AsyncClient(timeout=httpx.Timeout(10, connect=2)) as http:
                for n in range(first, first + per_person):
                    await submit(http, who, n)

        async def killer() -> None:
            await asyncio.wait_for(kill_now.wait(), 30)
            doomed.kill()

        await asyncio.wait_for(
            asyncio.gather(killer(), *(client(p, i * per_person) for i, p in enumerate(people))),
            45,
        )
        assert doomed.process.returncode == -9
        assert len(answers) == len(people) * per_person
        assert retried, "A was killed after every request had finished: nothing was retried"

        rows = await fetch(
            q(
                "SELECT id, client_key FROM hazard_report WHERE client_key LIKE {}",
                "burst-%",
            )
        )
        by_key: dict[str, list[int]] = {}
        for row in rows:
            by_key.setdefault(row["client_key"], []).append(row["id"])
        assert {k: v for k, v in by_key.items() if len(v) != 1} == {}  # none twice
        assert {k: v[0] for k, v in by_key.items()} == answers  # none lost, answers true

        owner = {}
        for who in people:
            owner.update({who.id: who})
        async with httpx.AsyncClient(timeout=10) as http:
            for case_id in answers.values():
                reporter = await fetch(
                    q("SELECT reporter FROM hazard_report WHERE id = {}", case_id)
                )
                who = owner[reporter[0]["reporter"]]
                case = await http.get(
                    f"{survivor.url}/api/v1/reports/{case_id}", headers=who.headers
                )
                assert case.status_code == 200, case.text
                photos = case.json()["photos"]
                assert len(photos) == 1
                shown = await http.get(
                    f"{survivor.url}/api/v1/media/{photos[0]['id']}/display", headers=who.headers
                )
                assert shown.status_code == 200 and shown.content[:2] == b"\xff\xd8"
