"""``make run``'s server: Django's runserver (static files left to whitenoise) that queues a
burst of new connections instead of resetting them."""
