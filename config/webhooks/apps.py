from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Signed webhooks (Standard Webhooks v1) fed from the event log: on the ground floor, beside
    the events, so they work for any event row whatever app wrote it."""

    name = "config.webhooks"
    label = "webhooks"
