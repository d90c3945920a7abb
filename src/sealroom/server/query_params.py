"""Refuse query parameters an operation does not declare.

FastAPI ignores a query parameter it does not know. For this API that is a trap: a typo
(``?strat=5`` for ``?start=5``) would silently read the audit log from its first entry, and the
OpenAPI document promises that an operation takes only the parameters it lists. So every
operation refuses an undeclared parameter with a 400 naming it and the ones it accepts.

The names each operation declares are collected once, when the app is built
(:func:`index_declared_query_parameters`), not per request.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from sealroom.errors import BadRequestError

__all__ = ["index_declared_query_parameters", "refuse_undeclared_query_parameters"]

#: The longest unknown parameter name echoed back (the name is the caller's own input).
_MAX_ECHOED_NAME = 40


async def refuse_undeclared_query_parameters(request: Request) -> None:
    """An app-wide dependency: a 400 for the first query parameter the route does not declare.

    ``async`` because it does no I/O: a plain ``def`` would cost every request a thread hop."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    index: dict[str, frozenset[str]] = request.app.state.declared_query_parameters
    declared = index.get(route.unique_id)
    if declared is None:  # a route added after the app was built: index it now
        declared = index[route.unique_id] = _declared(route.dependant)
    for name in request.query_params:
        if name not in declared:
            shown = name if name.isprintable() and len(name) <= _MAX_ECHOED_NAME else None
            accepted = ", ".join(sorted(declared)) or "none"
            what = f"query parameter {shown!r}" if shown is not None else "a query parameter"
            raise BadRequestError(
                f"{what} is not one this operation takes (it takes: {accepted})",
                code="unknown_query_parameter",
            )


def index_declared_query_parameters(app: FastAPI) -> None:
    """Collect every operation's declared query parameters; call after the routes are added."""
    app.state.declared_query_parameters = {
        route.unique_id: _declared(route.dependant)
        for route in app.routes
        if isinstance(route, APIRoute)
    }


def _declared(dependant: Dependant) -> frozenset[str]:
    """The query parameter names of an operation and of all its dependencies."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= _declared(dependency)
    return frozenset(names)
