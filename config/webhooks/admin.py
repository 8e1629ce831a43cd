"""The webhooks in the admin (endpoints, their deliveries and attempts)."""
