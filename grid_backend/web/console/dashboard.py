"""The console's dashboard (/console/): the figures of GET /api/v1/stats/dashboard for the
caller's area and a chosen period, each linking to the list behind it, and the daily trends
as SVG charts drawn here on the server (no script, no chart library)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, get
from litestar.response import Template

from grid_backend.areas.tables import Area
from grid_backend.core import clock
from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import DomainError
from grid_backend.core.pagination import DateFrom, DateTo
from grid_backend.core.types import QueryId, in_window
from grid_backend.people.duty import grants_of
from grid_backend.stats import labels
from grid_backend.stats import services as stats
from grid_backend.stats.schemas import TrendDay
from grid_backend.web import i18n
from grid_backend.web.console.cases import page, problem_text
from grid_backend.web.console.map import area_choices

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 720, 190, 28
AREA_COLUMNS = (Area.id, Area.code, Area.name, Area.level, Area.path)


def _scale(peak: int) -> int:
    """A round top for a chart's axis at or above its highest value."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10_000):
        if peak <= step * 4:
            return step * 4
    return peak


def chart(days: list[TrendDay], series: list[tuple[str, str]], *, stacked: bool) -> dict[str, Any]:
    """Bar geometry for the days: one bar per series side by side, or stacked."""
    n = max(len(days), 1)
    inner_w = CHART_WIDTH - 2 * CHART_PAD
    inner_h = CHART_HEIGHT - 2 * CHART_PAD
    slot = inner_w / n
    totals = [
        sum(getattr(d, key) for key, _ in series)
        if stacked
        else max(getattr(d, key) for key, _ in series)
        for d in days
    ]
    top = _scale(max(totals, default=0))
    bars = []
    for i, d in enumerate(days):
        x0 = CHART_PAD + i * slot
        base = CHART_HEIGHT - CHART_PAD
        width = slot * 0.8 if stacked else slot * 0.8 / len(series)
        for j, (key, css) in enumerate(series):
            value = getattr(d, key)
            height = inner_h * value / top if top else 0
            x = x0 + slot * 0.1 + (0 if stacked else j * width)
            y = base - height
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(max(width - 1, 1), 1),
                    "h": round(height, 1),
                    "css": css,
                    "value": value,
                    "key": key,
                    "date": d.date,
                }
            )
            if stacked:
                base = y
    every = max(1, n // 10)
    labels = [
        {"x": round(CHART_PAD + (i + 0.5) * slot, 1), "text": f"{d.date:%m-%d}"}
        for i, d in enumerate(days)
        if i % every == 0
    ]
    ticks = [
        {"y": round(CHART_HEIGHT - CHART_PAD - inner_h * k / 4, 1), "value": top * k // 4}
        for k in range(5)
    ]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "pad": CHART_PAD,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
    }


def _quick_ranges(today: date) -> list[tuple[str, date, date]]:
    return [
        ("7", today - timedelta(days=6), today),
        ("30", today - timedelta(days=29), today),
        ("month", today.replace(day=1), today),
        ("90", today - timedelta(days=89), today),
    ]


class DashboardPage(Controller):
    include_in_schema = False

    @get("/", name="console:dashboard")
    async def dashboard(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> Template:
        in_window("from", date_from)
        in_window("to", date_to)
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "stats.read")
        context: dict[str, Any] = {"choices": choices, "figures": None, "area_id": area_id}
        if not choices:
            return page("dashboard.html", context)
        area = next((c for c in choices if c["id"] == area_id), None)
        if area is None and area_id is not None:  # an area below the choices (a grid, say)
            area = await Area.select(*AREA_COLUMNS).where(Area.id == area_id).first().run()
        try:
            figures = await stats.dashboard(
                grants=grants,
                area_path=area["path"] if area else None,
                date_from=date_from,
                date_to=date_to,
            )
        except DomainError as exc:  # an area or period refused: say why, show the default
            context["flash"], context["flash_kind"] = problem_text(exc), "error"
            area = None
            figures = await stats.dashboard(grants=grants)
        area_query = f"&area_id={area['id']}" if area else ""
        context.update(
            figures=figures,
            area=area,
            area_query=area_query,
            period_query=f"from={figures.date_from}&to={figures.date_to}",
            ranges=_quick_ranges(clock.today()),
            channel_names={
                code: labels.name(labels.CHANNEL, code, i18n.current_language() == "en")
                for code in labels.CHANNEL
            },
            cases_chart=chart(
                figures.trend, [("reported", "reported"), ("closed", "closed")], stacked=False
            ),
            patrol_chart=chart(
                figures.trend,
                [("patrol_completed", "completed"), ("patrol_missed", "missed")],
                stacked=True,
            ),
        )
        return page("dashboard.html", context)
