"""A route that records an event, to see whom the request context names (test_context.py)."""

from django.db import transaction
from django.http import JsonResponse
from django.urls import include, path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.events.services import event_record


def _recorded() -> dict:
    with transaction.atomic():
        event = event_record(type="tag.created")
    return {
        "actor": [event.actor_type, event.actor_id, event.actor_username],
        "request_id": event.request_id,
    }


class RecordView(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request):
        return Response(_recorded())


def plain_view(request):
    """A Django view (the admin's kind): the session's user is the actor."""
    return JsonResponse(_recorded())


urlpatterns = [
    path("record", RecordView.as_view()),
    path("plain", plain_view),
    path("", include("config.edge.urls")),
]
