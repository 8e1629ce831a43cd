"""Writes on tags and on the tags of customers; the API, the admin and the commands call these.

One module a job: ``tags`` (a tag itself), ``names`` (from names to tags), ``tagging`` (one
customer), ``bulk`` (many), ``change_sets`` (the record of a bulk change), ``status_bulk`` (many customers' status), ``merge``, ``expiry``; a ``TagChange`` is the request of every
tagging entry point. Previews of writes are reads, in ``tags.selectors``.
"""

from tags.services.bulk import (
    RetagPreview,
    RetagResult,
    change_set_plan,
    change_set_revert_request,
    change_set_run,
    customers_retag,
    customers_retag_preview,
    customers_retag_preview_batches,
    customers_status_change_background,
    resume_change_sets,
    run_change_set,
)
from tags.services.change import TagChange
from tags.services.change_sets import (
    ChangeSetPlan,
    change_set_cancel,
    change_set_revert,
    change_set_revert_run,
    change_sets_stale,
)
from tags.services.expiry import tags_expire
from tags.services.merge import tags_merge
from tags.services.names import CREATE_PERMISSION, ResolvedTags, tags_may_create_check, tags_resolve
from tags.services.status_bulk import (
    StatusBulkResult,
    customers_status_change,
    customers_status_change_run,
)
from tags.services.tagging import TagChangeResult, customer_tags_change, customers_tag_limit_check
from tags.services.tags import (
    TAG_FIELDS,
    tag_create,
    tag_hard_delete,
    tag_restore,
    tag_soft_delete,
    tag_update,
)

__all__ = [
    "CREATE_PERMISSION",
    "TAG_FIELDS",
    "ChangeSetPlan",
    "ResolvedTags",
    "RetagPreview",
    "RetagResult",
    "StatusBulkResult",
    "TagChange",
    "TagChangeResult",
    "change_set_cancel",
    "change_set_plan",
    "change_set_revert",
    "change_set_revert_request",
    "change_set_revert_run",
    "change_set_run",
    "change_sets_stale",
    "customer_tags_change",
    "customers_retag",
    "customers_retag_preview",
    "customers_retag_preview_batches",
    "customers_status_change",
    "customers_status_change_background",
    "customers_status_change_run",
    "customers_tag_limit_check",
    "resume_change_sets",
    "run_change_set",
    "tag_create",
    "tag_hard_delete",
    "tag_restore",
    "tag_soft_delete",
    "tag_update",
    "tags_expire",
    "tags_may_create_check",
    "tags_merge",
    "tags_resolve",
]
