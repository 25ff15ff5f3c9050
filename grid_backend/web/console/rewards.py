"""The console's review of reward points: entries for cases in the caller's area, by person and
period, each linking to its case (stats.services.points_review, as GET /api/v1/stats/points)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, get
from litestar.response import Template

from grid_backend.core.auth import CurrentCaller
from grid_backend.core.errors import DomainError
from grid_backend.core.pagination import Cursor, DateFrom, DateTo
from grid_backend.core.types import QueryId, in_window
from grid_backend.people.duty import grants_of
from grid_backend.stats import labels
from grid_backend.stats import services as stats
from grid_backend.web.console.cases import english, page, problem_text
from grid_backend.web.console.map import area_choices, pick_area


class RewardsPage(Controller):
    include_in_schema = False

    @get("/rewards", name="console:rewards")
    async def rewards(
        self,
        caller: CurrentCaller,
        area_id: QueryId = None,
        account_id: QueryId = None,
        date_from: DateFrom = None,
        date_to: DateTo = None,
        cursor: Cursor = None,
    ) -> Template:
        in_window("from", date_from)
        in_window("to", date_to)
        grants = await grants_of(caller.account_id)
        choices = await area_choices(grants, "points.review")
        context: dict[str, Any] = {"choices": choices, "review": None}
        if not choices:
            return page("rewards.html", context)
        area = pick_area(choices, area_id) if area_id is not None else None
        try:
            review = await stats.points_review(
                grants=grants,
                area_path=area["path"] if area else None,
                account_id=account_id,
                date_from=date_from,
                date_to=date_to,
                cursor=cursor,
            )
            date_from, date_to = stats.period(date_from, date_to)
        except DomainError as exc:
            context["flash"], context["flash_kind"] = problem_text(exc), "error"
            review = await stats.points_review(
                grants=grants, area_path=area["path"] if area else None
            )
            date_from, date_to = stats.period(None, None)
        kept: list[tuple[str, Any]] = [("from", date_from), ("to", date_to)]
        if area:
            kept.append(("area_id", area["id"]))
        person = [("account_id", account_id)] if account_id else []
        en = english()
        context.update(
            review=review,
            area=area,
            account_id=account_id,
            date_from=date_from,
            date_to=date_to,
            base_query=urlencode(kept),
            next_query=urlencode([*kept, *person, ("cursor", review.next_cursor)])
            if review.next_cursor
            else "",
            reason_name=lambda code: labels.name(labels.POINTS_REASON, code, en),
        )
        return page("rewards.html", context)
