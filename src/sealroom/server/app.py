"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from sealroom._version import __version__
from sealroom.server.body_limit import BodyLimitMiddleware
from sealroom.server.observability import ObservabilityMiddleware
from sealroom.server.platform import Platform, open_platform
from sealroom.server.problems import document_problems, install_problem_handlers
from sealroom.server.query_params import (
    index_declared_query_parameters,
    refuse_undeclared_query_parameters,
)
from sealroom.server.routes import (
    commit_drafts,
    datasets,
    drafts,
    identity,
    jobs,
    meta,
    requests,
    rooms,
)
from sealroom.server.routes import inbox as inbox_api
from sealroom.server.settings import Settings
from sealroom.server.web import install_web_app


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    """Build the app; the platform (database, core, workers) opens in the lifespan, unless
    ``platform`` is already open (it is closed with the app either way)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = platform or open_platform(settings)
        app.state.platform = opened
        try:
            yield
        finally:
            opened.close()

    app = FastAPI(
        title="Sealroom",
        version=__version__,
        description="An open-source, self-hostable data clean room (untrusted host API).",
        lifespan=lifespan,
        dependencies=[Depends(refuse_undeclared_query_parameters)],
        # FastAPI's /docs and /redoc pages load their scripts from a CDN: nothing this server
        # serves may pull code from elsewhere. The schema stays at /openapi.json, for any viewer.
        docs_url=None,
        redoc_url=None,
    )
    app.state.long_polls = jobs.LongPolls()
    install_problem_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_json_bytes)
    # Added last, so outermost: it times, logs and counts every request, a 413 included.
    app.add_middleware(ObservabilityMiddleware)
    for module in (meta, datasets, rooms, drafts, jobs, requests, commit_drafts, identity):
        app.include_router(module.router)
    app.include_router(inbox_api.router)
    install_web_app(app)
    index_declared_query_parameters(app)
    document_problems(app)
    return app
