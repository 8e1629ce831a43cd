from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The event log and its change feed: one floor above ``config``, below every domain app."""

    name = "config.events"
    label = "events"
