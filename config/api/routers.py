"""URL shapes of the contract: ``/things/`` for lists, ``/things/{id}`` for one thing."""

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

    def get_routes(self, viewset) -> list[Route]:
        """Each route also tells its views which first path segments under their prefix are
        list-level routes (``bulk_tag``, ``lookup``), of this viewset or of another one
        registered on the same prefix: never an ``{id}``, as the schema says."""
        routes = super().get_routes(viewset)
        if not hasattr(viewset, "reserved_ids"):
            return routes  # not one of ours: as_view() takes only the class's own attributes
        prefixes = {prefix for prefix, registered, _ in self.registry if registered is viewset}
        reserved = tuple(
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
        return [
            route._replace(initkwargs={**route.initkwargs, "reserved_ids": reserved})
            for route in routes
        ]

    def get_urls(self) -> list:
        """List-level routes first, so ``/segments/preview`` is never read as the segment
        ``preview`` when two viewsets share a prefix (each one orders only its own routes)."""
        urls = super().get_urls()
        return sorted(urls, key=lambda url: "(?P<" in str(url.pattern))
