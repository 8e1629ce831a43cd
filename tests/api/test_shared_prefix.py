"""Several viewsets on one URL prefix: the CRUD and the action viewsets of /customers/."""

from django.urls import URLResolver
from django.urls.resolvers import RegexPattern
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api.routers import ApiRouter
from config.api.viewsets import ApiViewMixin


class Things(ApiViewMixin, viewsets.GenericViewSet):
    def retrieve(self, request, *args, **kwargs):
        return Response()


class ThingActions(ApiViewMixin, viewsets.GenericViewSet):
    @action(detail=False, methods=["post"])
    def bulk(self, request, *args, **kwargs):
        return Response()

    @action(detail=True, methods=["post"])
    def poke(self, request, *args, **kwargs):
        return Response()


class OtherActions(ApiViewMixin, viewsets.GenericViewSet):
    @action(detail=False, methods=["put"], url_path="lookup/state")
    def lookup(self, request, *args, **kwargs):
        return Response()


def resolver() -> URLResolver:
    router = ApiRouter()
    router.register("things", Things, basename="thing")  # the {id} route first
    router.register("things", ThingActions, basename="thing-actions")
    router.register("things", OtherActions, basename="thing-other")
    router.register("others", OtherActions, basename="other")
    return URLResolver(RegexPattern(r"^"), router.urls)


def test_a_list_level_action_registered_later_is_not_taken_for_an_id():
    urls = resolver()
    assert urls.resolve("things/bulk").func.cls is ThingActions
    assert urls.resolve("things/lookup/state").func.cls is OtherActions
    match = urls.resolve("things/abc")
    assert (match.func.cls, match.kwargs) == (Things, {"id": "abc"})
    assert urls.resolve("things/abc/poke").func.cls is ThingActions


def test_every_id_route_of_a_prefix_knows_the_names_its_id_cannot_be():
    urls = resolver()
    for path in ("things/abc", "things/abc/poke"):
        assert urls.resolve(path).func.initkwargs["reserved_ids"] == ("bulk", "lookup")
    # another prefix has its own
    assert "reserved_ids" not in urls.resolve("others/lookup/state").func.initkwargs
