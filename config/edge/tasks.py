"""The periodic jobs: each is idempotent, and does its work in batches of one transaction each,
so a run killed half-way loses nothing and the next run does the rest.

`manage.py enqueue_periodic` enqueues them (cron, or `--every` under `make run`); a worker
(`manage.py run_worker`) runs them. docs/decisions.md, "Jobs"."""

from config.api.idempotency import prune as idempotency_keys_prune
from config.events.services import events_prune
from config.jobs import job, jobs_mark_abandoned, jobs_prune
from config.webhooks.tasks import webhooks_dispatch
from tags.services import resume_change_sets, tags_expire


@job
def expire_tags(batch_size: int = 5000) -> int:
    """Remove assignments whose expiry has passed, with their history rows."""
    return tags_expire(batch_size=batch_size)


@job
def prune_idempotency_keys() -> int:
    """Delete stored Idempotency-Key responses older than 24 hours."""
    return idempotency_keys_prune()


@job
def prune_events(batch_size: int = 5000) -> int:
    """Delete events older than EVENTS_RETENTION_DAYS."""
    return events_prune(batch_size=batch_size)


@job
def tidy_jobs() -> dict:
    """Mark failed the jobs whose worker died, and delete finished jobs past retention."""
    return {"abandoned": jobs_mark_abandoned(), "pruned": jobs_prune()}


# webhooks_dispatch keeps itself going every WEBHOOK_DISPATCH_SECONDS; the schedule restarts it
# if its chain stopped (config/webhooks/tasks.py).
# resume_change_sets runs again the background change-sets a killed worker left (tags.services).
PERIODIC = (
    expire_tags,
    prune_idempotency_keys,
    prune_events,
    tidy_jobs,
    webhooks_dispatch,
    resume_change_sets,
)
