"""URL shapes of the contract: ``/things/`` for lists, ``/things/{id}`` for one thing.

Several viewsets may share a prefix (the customer CRUD and its tagging and status actions
under ``customers``): their list-level actions (``customers/bulk_tag``) are routed before any
``{id}``, and no ``{id}`` of that prefix can be one of their names.
"""

from rest_framework.routers import DynamicRoute, Route, SimpleRouter


class ApiRouter(SimpleRouter):
    routes = [
        Route(
            url=r"^{prefix}/$",
            mapping={"get": "list", "post": "create"},
            name="{basename}-list",
            detail=False,
            initkwargs={"suffix": "List"},
        ),
        DynamicRoute(
            url=r"^{prefix}/{url_path}$", name="{basename}-{url_name}", detail=False, initkwargs={}
        ),
        Route(
            url=r"^{prefix}/{lookup}$",
            mapping={
                "get": "retrieve",
                "put": "update",
                "patch": "partial_update",
                "delete": "destroy",
            },
            name="{basename}-detail",
            detail=True,
            initkwargs={"suffix": "Instance"},
        ),
        DynamicRoute(
            url=r"^{prefix}/{lookup}/{url_path}$",
            name="{basename}-{url_name}",
            detail=True,
            initkwargs={},
        ),
    ]

    def get_lookup_regex(self, viewset, lookup_prefix: str = "") -> str:
        return rf"(?P<{lookup_prefix}id>[^/]+)"

    def list_level_paths(self, viewset) -> tuple[str, ...]:
        """First path segments of the list-level actions of every viewset registered on the
        same prefix as ``viewset``: what an ``{id}`` there can never be."""
        prefixes = {prefix for prefix, registered, _ in self.registry if registered is viewset}
        return tuple(
            sorted(
                {
                    action.url_path.split("/")[0]
                    for prefix, registered, _ in self.registry
                    if prefix in prefixes
                    for action in registered.get_extra_actions()
                    if not action.detail
                }
            )
        )

    def get_routes(self, viewset) -> list[Route]:
        reserved = self.list_level_paths(viewset)
        return [
            route._replace(initkwargs={**route.initkwargs, "reserved_ids": reserved})
            if route.detail
            else route
            for route in super().get_routes(viewset)
        ]

    def get_urls(self) -> list:
        # stable: each viewset's own order is kept, list-level routes go first
        return sorted(super().get_urls(), key=lambda url: "(?P<" in str(url.pattern))
