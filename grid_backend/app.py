"""The Litestar application: controllers, error handlers, OpenAPI and lifespan."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from grid_backend import prometheus
from grid_backend.alerts.controllers import (
    CalloutController,
    MyCalloutsController,
    WarningController,
)
from grid_backend.areas.controllers import AreaController, LocateController, RiskPointController
from grid_backend.core.allow import allow_fixer
from grid_backend.core.auth import DEPENDENCIES, register_account_gate
from grid_backend.core.blank_query import blank_query_middleware
from grid_backend.core.errors import EXCEPTION_HANDLERS
from grid_backend.core.headers import security_headers
from grid_backend.core.openapi import components_for, declare_errors
from grid_backend.core.throttle import close_throttle
from grid_backend.evacuation.controllers import (
    HouseholdController,
    RiskMapController,
    RouteController,
    ShelterController,
)
from grid_backend.evacuation.qrcontrollers import QrCodeController
from grid_backend.evacuation.runs_controllers import EvacuationController
from grid_backend.flows.controllers import (
    MyCasesController,
    ReportController,
    SignupController,
    SlaController,
)
from grid_backend.flows.hotline_controller import HotlineController
from grid_backend.flows.own_data_controller import OwnDataController
from grid_backend.flows.sos_controller import SosController
from grid_backend.hazards import hooks as hazards_hooks
from grid_backend.hazards.live import AlarmController
from grid_backend.hazards.map import CaseMapController, CaseSurroundingsController, MapController
from grid_backend.hazards.schemas import ReportCreate
from grid_backend.lifespan import lifespan_for
from grid_backend.media.controllers import MediaController
from grid_backend.notify import channels as notify_channels
from grid_backend.notify import events as notify_events
from grid_backend.notify.controllers import EventsController, InboxController, WebhookController
from grid_backend.open311 import openapi as open311_openapi
from grid_backend.open311.controllers import (
    CaseVisibilityController,
    Open311ClientController,
    Open311Controller,
)
from grid_backend.patrols.controllers import (
    MyTasksController,
    PatrolPlanController,
    PatrolStatsController,
    PatrolTaskController,
)
from grid_backend.people import closed as closed_accounts
from grid_backend.people.caller import DEPENDENCIES as MEMBER_DEPENDENCIES
from grid_backend.people.caller import language_middleware
from grid_backend.people.controllers import (
    AccountController,
    AssignmentController,
    AuthController,
    MeController,
)
from grid_backend.response.controllers import (
    MyResponsesController,
    RescueTeamController,
    ResponseController,
    ResponseStatsController,
    UrgentCaseController,
)
from grid_backend.settings import Settings, get_settings
from grid_backend.stats.controllers import (
    DashboardController,
    EvacuationExportController,
    ExportController,
)
from grid_backend.system import SystemController
from grid_backend.web import routes as page_routes
from grid_backend.web.templating import template_config

CONTROLLERS = [
    SystemController,
    AuthController,
    SignupController,
    MeController,
    AssignmentController,
    AccountController,
    AreaController,
    LocateController,
    RiskPointController,
    MapController,
    MediaController,
    ReportController,
    SosController,
    HotlineController,
    OwnDataController,
    CaseMapController,
    AlarmController,
    CaseSurroundingsController,
    MyCasesController,
    SlaController,
    PatrolPlanController,
    PatrolTaskController,
    MyTasksController,
    PatrolStatsController,
    InboxController,
    WebhookController,
    EventsController,
    WarningController,
    CalloutController,
    MyCalloutsController,
    ResponseController,
    UrgentCaseController,
    MyResponsesController,
    RescueTeamController,
    ResponseStatsController,
    ShelterController,
    EvacuationController,
    HouseholdController,
    QrCodeController,
    RouteController,
    RiskMapController,
    DashboardController,
    ExportController,
    EvacuationExportController,
    Open311Controller,
    Open311ClientController,
    CaseVisibilityController,
]


API_MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: Settings | None = None, *, open_pool: bool = True) -> Litestar:
    settings = settings or get_settings()
    hazards_hooks.register()  # what media and people ask of hazards, a layer above them
    register_account_gate(closed_accounts.is_closed)  # tokens of closed accounts are refused
    app = Litestar(
        route_handlers=[*CONTROLLERS, *page_routes()],
        # JSON API bodies are small; uploads and imports stream with their own limits, and the
        # console's page router keeps Litestar's 10 MB for its photo forms
        request_max_body_size=API_MAX_BODY_BYTES,
        template_config=template_config(),
        dependencies={**DEPENDENCIES, **MEMBER_DEPENDENCIES},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]  # handlers typed per exception class, narrower than Litestar's
        middleware=[
            blank_query_middleware,  # `?from=&area_id=`: empty means no filter (core/blank_query)
            language_middleware,  # the API's language, once: people/caller.py
        ],
        before_send=[security_headers(settings)],  # CSP, nosniff, no-store: core/headers.py
        lifespan=[lifespan_for(settings, open_pool=open_pool)],
        plugins=[notify_events.plugin(settings)],  # live events: GET /api/v1/events
        # the delivery job's httpx client, the rate-limit counters' Redis connections
        on_shutdown=[notify_channels.close_client, close_throttle],
        # pages compressed as they are sent; static files are compressed once (web/assets.py),
        # the API is left alone (live events stream, photos are JPEG already)
        compression_config=CompressionConfig(
            backend="brotli",
            gzip_fallback=True,
            minimum_size=1000,
            exclude=["^/static/", "^/favicon.ico$", "^/api/", "^/schema"],
        ),
        openapi_config=OpenAPIConfig(
            title="grid-backend",
            version="1",
            description="141 grassroots governance for emergency management (Chongqing)",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path="/openapi.json")],  # no CDN-hosted UI
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level, "handlers": ["queue_listener"]},
            loggers={
                "apscheduler": {"level": "WARNING"},
                "httpx": {"level": "WARNING"},
                "grid_backend": {"level": settings.log_level, "propagate": True},
            },
            log_exceptions="debug",
        ),
        debug=False,
    )
    # bodies read by hand (JSON or a streamed multipart upload on one path) are described
    # from their Structs; Litestar regenerates its components, so add them afterwards
    app.openapi_schema.components.schemas.update(components_for(ReportCreate).schemas or {})
    declare_errors(app)  # problem+json error responses, by rule (core/openapi.py)
    open311_openapi.document(app)  # but GeoReport v2's own errors on /open311/v2
    prometheus.install(app, settings)  # /metrics and the request meter, with GRID_METRICS_TOKEN
    app.before_send.append(allow_fixer(app))  # a true Allow on OPTIONS (core/allow.py)
    return app


logging.getLogger("grid_backend")
