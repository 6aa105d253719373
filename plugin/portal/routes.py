"""Routes of this package (filled in by its owner)."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
