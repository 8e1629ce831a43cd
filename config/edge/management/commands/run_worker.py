"""The job worker of the configured backend: `manage.py run_worker` (what `make run` starts)."""

from django.conf import settings
from django.core.management import call_command

from config.commands import ProjectCommand


class Command(ProjectCommand):
    help = (
        "Run the jobs of the project's queue with the configured backend (TASKS_BACKEND): "
        "the database worker, or an RQ worker."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch", action="store_true", help="Run the jobs already queued, then exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Database backend: seconds between looks at an empty queue (default 1).",
        )

    def handle(self, *args, batch: bool, interval: float, verbosity: int, **options):
        if settings.TASKS_BACKEND == "rq":
            call_command(
                "rqworker",
                settings.TASKS_QUEUE,
                job_class="django_tasks_rq.Job",
                burst=batch,
                # jobs enqueued to run later (the webhook dispatch's next turn)
                with_scheduler=True,
                verbosity=verbosity,
            )
            return
        call_command(
            "db_worker",
            queue_name=settings.TASKS_QUEUE,
            batch=batch,
            interval=interval,
            reload=False,
            verbosity=verbosity,
        )
