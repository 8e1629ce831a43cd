from django.core.servers.basehttp import WSGIServer
from whitenoise.runserver_nostatic.management.commands.runserver import (
    Command as RunserverCommand,
)


class BurstTolerantWSGIServer(WSGIServer):
    """Django's development server with a longer accept queue.

    Django's listens with a backlog of 10: with 50 clients connecting at once the kernel drops
    the overflow and some of them get "connection reset". The kernel caps this at somaxconn.
    """

    request_queue_size = 1024


class Command(RunserverCommand):
    server_cls = BurstTolerantWSGIServer
