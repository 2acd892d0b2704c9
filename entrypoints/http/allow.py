"""``OPTIONS`` answers list every method of the path in ``Allow``.

Litestar builds a path's ``OPTIONS`` handler with the first handlers registered for it;
when more handlers join the path later (a second controller method, as in
``GET``/``PUT /api/teams/{team_id}``) the route is rebuilt but keeps that handler,
whose ``Allow`` still names the first methods only. Once the app is built, each route's
automatic ``OPTIONS`` handler is made again, by Litestar's own factory, for the route as
it finally is.
"""

from litestar import Litestar
from litestar.routes import HTTPRoute


def answer_options_with_every_method(app: Litestar) -> None:
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        current, _ = route.route_handler_map["OPTIONS"]
        if current.handler_name != "options_handler":  # an OPTIONS handler of our own
            continue
        fresh = route.create_options_handler(route.path)
        fresh.owner = current.owner
        fresh.on_registration(app)
        model = fresh.create_kwargs_model(path_parameters=route.path_parameters)
        route.route_handler_map["OPTIONS"] = (fresh, model)
        route.route_handlers = [fresh if handler is current else handler for handler in route.route_handlers]
