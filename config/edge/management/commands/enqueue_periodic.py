"""Enqueue the periodic jobs (config.edge.tasks.PERIODIC): what cron runs every few minutes, and
what `make run` runs in a loop (`--every`). A job already waiting in the queue is not enqueued
again, so a stopped worker does not find a pile of runs when it comes back."""

import time

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ProjectCommand
from config.edge.tasks import PERIODIC
from config.jobs import job_waiting


class Command(ProjectCommand):
    help = "Enqueue the periodic jobs (expire tags, prune idempotency keys, events and jobs)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--every",
            type=int,
            nargs="?",
            const=settings.PERIODIC_JOBS_EVERY_SECONDS,
            metavar="SECONDS",
            help="Keep enqueueing them every SECONDS (default PERIODIC_JOBS_EVERY_SECONDS, "
            "300), e.g. beside a development server.",
        )

    def handle(self, *args, every: int | None, **options):
        if every is not None and every < 1:
            raise CommandError("--every must be at least 1 second.")
        while True:
            for job_task in PERIODIC:
                if job_waiting(job_task):
                    self.stdout.write(f"{job_task.name}: already waiting in the queue.")
                    continue
                result = job_task.enqueue()
                self.stdout.write(f"{job_task.name}: enqueued ({result.id}).")
            if every is None:
                return
            time.sleep(every)
