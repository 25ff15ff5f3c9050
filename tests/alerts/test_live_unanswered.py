"""Callouts nobody answered reach the consoles watching the callout's areas live, with how
many are still silent, once per escalation step (the step is the job's idempotence)."""

from __future__ import annotations

import asyncio

from factories import G1

from grid_backend import scheduler

from .test_callouts_api import Listener, live  # noqa: F401  # the plugin fixture


async def test_unanswered_callouts_are_announced_to_the_watching_consoles(world, live):  # noqa: F811
    listeners = {
        "t1": Listener(live, world.dispatcher.id),
        "t2": Listener(live, world.other_dispatcher.id),
        "district": Listener(live, world.supervisor.id),
        "g1_leader": Listener(live, world.teams[G1]["grid_leader"].id),
    }
    for listener in listeners.values():
        await listener.start()
    try:
        callout_id = (await world.warn())["callout_ids"][0]  # G1's team called out at 10:00
        job = scheduler.find("alerts.escalate")
        r = await world.post(world.teams[G1]["responder"], f"/api/v1/callouts/{callout_id}/ack")
        assert r.status_code == 200
        world.advance(minutes=5)  # 10:05: four have not answered (the grid worker among them)
        assert (await scheduler.run_job(job)).result["reminded"] == 4
        assert (await scheduler.run_job(job)).result["callouts"] == 0  # nothing twice
        await asyncio.sleep(0.3)
        for name in ("t1", "district", "g1_leader"):
            got = listeners[name].of("callout.unanswered")
            assert len(got) == 1, name
            assert got[0]["callout_id"] == callout_id and got[0]["waiting"] == 4
            assert got[0]["text_zh"] == "今夜有大到暴雨，请做好防范" and got[0]["minutes"] == 5
        assert listeners["t2"].of("callout.unanswered") == []  # another township's console
        world.advance(minutes=5)  # 10:10: still silent, their grid leader is told
        await scheduler.run_job(job)
        await asyncio.sleep(0.3)
        steps = [e["step"] for e in listeners["t1"].of("callout.unanswered")]
        assert steps == [1, 2]
    finally:
        for listener in listeners.values():
            await listener.close()
