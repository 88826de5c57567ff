"""``create_app``: the API, whose lifespan builds and closes its resources (``infra.bootstrap``)."""

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from app.auth import PUBLIC_PATHS, BearerTokenMiddleware
from app.body import require_strict_json
from app.console.routes import CONSOLE_ROUTES, handle_any_exception, template_config
from app.deps import (
    provide_mirror,
    provide_principal,
    provide_queue,
    provide_rebuilds,
    provide_uow,
)
from app.layers.body_timeout import BodyTimeout
from app.layers.fast_check import FastCheck
from app.layers.metrics import HttpMetrics
from app.layers.request_ids import RequestIds
from app.query import StrictQuery
from app.routes.batches import BatchController
from app.routes.cache import CacheController
from app.routes.check import CheckController
from app.routes.dnc import DncController
from app.routes.docs import assets, landing, openapi_pages
from app.routes.exemptions import ExemptionController
from app.routes.lists import ListController
from app.routes.me import me
from app.routes.named_lists import NamedListController, PrefixController
from app.routes.ops import health, metrics, ready
from app.routes.receipts import ReceiptController
from app.routes.subscriptions import SubscriptionController
from app.routes.transfer import TransferController
from domain.phone import nanp_table
from infra import bootstrap
from infra.settings import Settings
from infra.token_revocations import follow_revocations

API_NAME = "dnc-api"


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nanp_table()  # built now rather than by the first check
        resources = app.state.resources = bootstrap.build(settings, API_NAME)
        revocations = asyncio.create_task(
            follow_revocations(settings, resources.tokens, API_NAME), name="token revocations"
        )
        # What start-up built lives as long as the process: keep the collector from walking
        # it again in every full collection (a pause of tens of milliseconds, seen in p99)
        gc.freeze()
        try:
            yield
        finally:
            revocations.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await revocations
            await bootstrap.close(resources)

    return Litestar(
        route_handlers=[
            landing,
            assets,
            health,
            me,
            ready,
            metrics,
            DncController,
            ListController,
            NamedListController,
            PrefixController,
            ExemptionController,
            TransferController,
            CheckController,
            ReceiptController,
            CacheController,
            BatchController,
            SubscriptionController,
            *CONSOLE_ROUTES,
        ],
        lifespan=[lifespan],
        template_config=template_config,
        middleware=[DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS), StrictQuery],
        dependencies={
            "uow": Provide(provide_uow, sync_to_thread=False),
            "mirror": Provide(provide_mirror, sync_to_thread=False),
            "queue": Provide(provide_queue, sync_to_thread=False),
            "rebuilds": Provide(provide_rebuilds, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        before_request=require_strict_json,
        exception_handlers={Exception: handle_any_exception},
        request_max_body_size=settings.max_body_bytes,
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="DNC service",
            version="0.1.0",
            description="Do-Not-Call list service for outbound calling platforms",
            security=[{"BearerToken": []}],
            render_plugins=[openapi_pages()],
            components=Components(
                security_schemes={"BearerToken": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
    )


def create_server_app(settings: Settings | None = None) -> RequestIds:
    """What ``dnc serve`` runs: the app inside the layers of ``app.layers``: the single
    check's everyday case answered before routing (``fast_check``), a read timeout on bodies
    (``body_timeout``), the metrics and an id for every request."""
    settings = settings or Settings.from_env()
    app = FastCheck(create_app(settings))
    return RequestIds(HttpMetrics(BodyTimeout(app, settings.body_read_timeout_seconds)))
