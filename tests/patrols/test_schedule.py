"""Recurrences in Asia/Shanghai: across days and month ends, weekly days, no DST, and the
edges of the materialising horizon and of task windows on the test clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from grid_backend.patrols import jobs
from grid_backend.patrols.tables import PatrolTask

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 30, 16, 30, tzinfo=UTC)  # 00:30 on 31 March in Shanghai


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


def test_daily_occurrences_cross_midnight_and_the_month_end():
    fires, following = jobs.occurrences(
        {"kind": "daily", "time": "09:00"}, NOW, NOW + timedelta(hours=36)
    )
    # 00:30 on 31 March local: today's 09:00 and 1 April's, in UTC
    assert fires == [local(2026, 3, 31, 9), local(2026, 4, 1, 9)]
    assert fires[0] == datetime(2026, 3, 31, 1, 0, tzinfo=UTC)
    assert following == local(2026, 4, 2, 9)


def test_a_local_midnight_patrol_is_the_previous_utc_day():
    fires, _ = jobs.occurrences({"kind": "daily", "time": "00:00"}, NOW, NOW + timedelta(hours=24))
    assert fires == [datetime(2026, 3, 31, 16, 0, tzinfo=UTC)]  # 1 April 00:00 local
    assert fires[0].astimezone(SHANGHAI).date() == date(2026, 4, 1)


def test_weekly_days_by_name_in_local_time():
    start = local(2026, 3, 30, 0)  # a Monday
    fires, _ = jobs.occurrences(
        {"kind": "weekly", "time": "15:00", "days": ["tue", "fri"]},
        start,
        start + timedelta(days=14),
    )
    assert [f.astimezone(SHANGHAI).strftime("%a %d %H:%M") for f in fires] == [
        "Tue 31 15:00",
        "Fri 03 15:00",
        "Tue 07 15:00",
        "Fri 10 15:00",
    ]


def test_late_evening_weekly_patrol_on_sunday_is_monday_in_utc_terms_only():
    start = local(2026, 2, 27, 0)
    fires, _ = jobs.occurrences(
        {"kind": "weekly", "time": "23:30", "days": ["sun"]}, start, start + timedelta(days=7)
    )
    assert fires == [local(2026, 3, 1, 23, 30)]
    assert fires[0].weekday() == 6  # still Sunday in UTC (15:30Z)
    assert fires[0].astimezone(SHANGHAI).date() == date(2026, 3, 1)  # after 28 February


def test_no_daylight_saving_shift_through_a_whole_year():
    start = local(2026, 1, 1, 0)
    fires, _ = jobs.occurrences(
        {"kind": "daily", "time": "02:30"}, start, start + timedelta(days=366)
    )
    assert len(fires) == 366  # 1 January 2026 to 1 January 2027
    gaps = {b - a for a, b in zip(fires, fires[1:], strict=False)}
    assert gaps == {timedelta(hours=24)}  # Europe and America change clocks; Shanghai does not
    assert {f.astimezone(SHANGHAI).strftime("%H:%M") for f in fires} == {"02:30"}


def test_horizon_edges_are_inclusive_and_a_fire_at_now_counts():
    at = local(2026, 3, 31, 9)
    fires, following = jobs.occurrences({"kind": "daily", "time": "09:00"}, at, at)
    assert fires == [at]
    assert following == local(2026, 4, 1, 9)
    fires, _ = jobs.occurrences(
        {"kind": "daily", "time": "09:00"}, at + timedelta(seconds=1), at + timedelta(hours=24)
    )
    assert fires == [local(2026, 4, 1, 9)]


async def test_tasks_carry_local_dates_and_window_ends(world):
    plan = await world.plan(recurrence={"kind": "daily", "time": "23:30"}, window_minutes=60)
    rows = (
        await PatrolTask.select(
            PatrolTask.local_date, PatrolTask.window_start, PatrolTask.window_end
        )
        .where(PatrolTask.plan == plan["id"])
        .order_by(PatrolTask.window_start)
        .run()
    )
    # 36 hours from 00:30 on 31 March: 31 March 23:30 only (1 April 23:30 is beyond)
    assert [(r["local_date"], r["window_start"], r["window_end"]) for r in rows] == [
        (date(2026, 3, 31), local(2026, 3, 31, 23, 30), local(2026, 4, 1, 0, 30)),
    ]
    # the window ends on the next local day, the task keeps the day it started
    world.at(local(2026, 4, 1, 12, 30))  # exactly 36 h before 3 April 00:30
    await jobs.materialise(local(2026, 4, 1, 12, 30))
    days = [
        r["local_date"]
        for r in await PatrolTask.select(PatrolTask.local_date)
        .where(PatrolTask.plan == plan["id"])
        .order_by(PatrolTask.window_start)
        .run()
    ]
    assert days == [date(2026, 3, 31), date(2026, 4, 1), date(2026, 4, 2)]


async def test_weekly_plan_makes_tasks_only_on_its_days(world):
    plan = await world.plan(recurrence={"kind": "weekly", "time": "15:00", "days": ["fri", "tue"]})
    assert plan["recurrence"] == {"kind": "weekly", "time": "15:00", "days": ["tue", "fri"]}
    for day in range(11):  # the job every day at 00:30, 31 March to 10 April
        when = NOW + timedelta(days=day)
        world.at(when)
        await jobs.materialise(when)
    rows = (
        await PatrolTask.select(PatrolTask.local_date)
        .where(PatrolTask.plan == plan["id"])
        .order_by(PatrolTask.window_start)
        .run()
    )
    assert [r["local_date"].strftime("%a %m-%d") for r in rows] == [
        "Tue 03-31",
        "Fri 04-03",
        "Tue 04-07",
        "Fri 04-10",
    ]


async def test_active_period_limits_the_tasks(world):
    plan = await world.plan(valid_from="2026-04-01", valid_to="2026-04-02")
    for day in range(5):
        when = NOW + timedelta(days=day)
        world.at(when)
        await jobs.materialise(when)
    rows = await PatrolTask.select(PatrolTask.local_date).where(PatrolTask.plan == plan["id"]).run()
    assert sorted(r["local_date"] for r in rows) == [date(2026, 4, 1), date(2026, 4, 2)]


async def test_the_first_task_starts_after_now_never_in_an_open_window(world):
    world.at(local(2026, 3, 31, 9, 30))  # during today's 09:00–11:00 window
    plan = await world.plan()
    tasks = (
        await PatrolTask.select(PatrolTask.window_start).where(PatrolTask.plan == plan["id"]).run()
    )
    assert [t["window_start"] for t in tasks] == [local(2026, 4, 1, 9)]
    assert plan["next_windows"][:2] == [
        local(2026, 4, 1, 9).isoformat().replace("+00:00", "Z"),
        local(2026, 4, 2, 9).isoformat().replace("+00:00", "Z"),
    ]
