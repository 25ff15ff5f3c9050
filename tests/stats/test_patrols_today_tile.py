"""The dashboard's "Today's patrols" tile says what its figure means: its big figure is the
share of today's rounds done, the same as the "1 of 5" beside it (it showed 100.0% beside
"1 of 5 done" when the one round decided so far was done)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from factories import G1, T1, make_person, make_tree

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def tile(page: str) -> str:
    found = re.search(r'data-figure="patrols_today.done_share".*?</a>', page, re.S)
    assert found
    return re.sub(r"<[^>]+>", " ", found.group(0))


async def test_one_round_done_of_five_reads_twenty_percent(client, build):
    clock.set_clock(lambda: NOW)
    await make_tree()
    dispatcher = await make_person(("dispatcher", T1))
    await build.tasks(
        G1, NOW.date(), "completed", "in_progress", "scheduled", "scheduled", "scheduled"
    )
    client.cookies.set("grid_access", issue_access_token(dispatcher.id)[0])

    zh = tile((await client.get("/console/", params={"lang": "zh-CN"})).text)

    assert "20.0%" in zh and "今日巡查 5 次，已完成 1 次，漏巡 0 次，待完成 4 次" in zh
    assert "已有结果的巡查（完成或漏巡）中，完成 100.0%" in zh

    en = tile((await client.get("/console/", params={"lang": "en"})).text)
    words = " ".join(en.split())
    assert "20.0% 1 of 5 patrol rounds done today, 0 missed, 4 still to go" in words
    assert "Of the rounds decided so far (done or missed): 100.0% done" in words
    figure = (await client.get("/api/v1/stats/dashboard", headers=dispatcher.headers)).json()
    assert figure["patrols_today"]["done_share"] == 0.2
