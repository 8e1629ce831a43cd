import re
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.deconstruct import deconstructible
from simple_history.models import HistoricalRecords

from config.fields import ULIDField, new_ulid
from config.history import ChangeSetHistory
from config.names import NamedModelMixin

TAG_NAME_MAX_LENGTH = 100
# At least one character that is not a space: "   " is no name once trimmed.
TAG_NAME_PATTERN = r"^[A-Za-z0-9_\- ]*[A-Za-z0-9_\-][A-Za-z0-9_\- ]*$"
TAG_NAME_RULE = (
    f"1–{TAG_NAME_MAX_LENGTH} characters of A–Z, a–z, 0–9, '-', '_' and spaces, not only spaces"
)
TAG_REFERENCE_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
tag_reference_validator = RegexValidator(
    TAG_REFERENCE_RE, "Use 1–50 characters of A–Z, a–z, 0–9, '-' and '_'.", code="invalid"
)


@deconstructible
class TagNameValidator(RegexValidator):
    """The one rule of a valid tag name, for the model, the serializers (whose ``max_length``
    is ``TAG_NAME_MAX_LENGTH``, the schema's pattern comes from here), the services and the
    segment rules (through ``tag_name_is_valid``)."""

    regex = TAG_NAME_PATTERN
    message = f"Not a valid tag name ({TAG_NAME_RULE})."
    code = "invalid"


tag_name_validator = TagNameValidator()


def tag_name_is_valid(value: object) -> bool:
    """The whole rule, length included, as a yes or no for code that reports it its own way."""
    if not isinstance(value, str) or len(value) > TAG_NAME_MAX_LENGTH:
        return False
    try:
        tag_name_validator(value)
    except ValidationError:
        return False
    return True


def default_tag_metadata() -> dict:
    return {"info": [], "list": []}


class TagQuerySet(models.QuerySet):
    def alive(self) -> "TagQuerySet":
        return self.filter(is_deleted=False)

    def deleted(self) -> "TagQuerySet":
        return self.filter(is_deleted=True)

    def with_customer_count(self) -> "TagQuerySet":
        """Annotate how many customers currently carry each tag, in the same query."""
        counts = (
            TagAssignment.objects.current()
            .filter(tag=OuterRef("pk"))
            .order_by()
            .values("tag")
            .annotate(n=Count("*"))
            .values("n")
        )
        return self.annotate(customer_count=Coalesce(Subquery(counts), 0))


class Tag(NamedModelMixin, models.Model):
    """A customer tag (Payiano's "customer tag"); soft-deleted tags keep their assignments."""

    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    name = models.CharField(max_length=TAG_NAME_MAX_LENGTH, validators=[tag_name_validator])
    name_key = models.CharField(max_length=100, unique=True, editable=False)
    reference_id = models.CharField(
        max_length=50, unique=True, null=True, blank=True, validators=[tag_reference_validator]
    )
    description = models.TextField(max_length=10_000, blank=True)
    is_active = models.BooleanField(default=True)
    metadata = models.JSONField(default=default_tag_metadata, blank=True)
    is_deleted = models.BooleanField(default=False, db_index=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="aliases",
        help_text="Set when this tag was merged into another: its name is now an alias there.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        history_change_reason_field=models.TextField(null=True), excluded_fields=["name_key"]
    )
    objects = TagQuerySet.as_manager()

    class Meta:
        permissions = [
            ("restore_tag", "Can restore a deleted tag"),
            ("hard_delete_tag", "Can delete a tag permanently"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (deleted)" if self.is_deleted else self.name


# --- "current": the one rule, in the three forms the code needs ----------------------------
# An assignment is current when it has not expired (no expiry, or one still ahead of ``now``)
# and its tag is not deleted; "unexpired" is the first half alone, "expired" its opposite. The
# queryset methods (ORM reads), the ``*_sql`` conditions (raw statements: the assignment
# writers, segment counts) and the ``assignment_is_*`` predicates (rows in hand) are that one
# rule; tests/tags/test_current_rule.py checks that the three forms select the same rows.


def assignment_is_unexpired(*, expires_at: datetime | None, now: datetime) -> bool:
    """An assignment with this expiry has not expired at ``now``."""
    return expires_at is None or expires_at > now


def assignment_is_current(
    *, expires_at: datetime | None, tag_is_deleted: bool, now: datetime
) -> bool:
    """An assignment with this expiry, of a tag deleted or not, is current at ``now``."""
    return not tag_is_deleted and assignment_is_unexpired(expires_at=expires_at, now=now)


def _expiry_param(now: datetime):
    return TagAssignment._meta.get_field("expires_at").get_db_prep_value(
        now, connection, prepared=False
    )


def unexpired_assignment_sql(column: str, now: datetime) -> tuple[str, list]:
    """``unexpired()`` as a SQL condition and its parameters; ``column`` is the assignment's
    ``expires_at`` as the statement names it (``a.expires_at``)."""
    return f"({column} IS NULL OR {column} > %s)", [_expiry_param(now)]


def expired_assignment_sql(column: str, now: datetime) -> tuple[str, list]:
    """``expired()`` as a SQL condition and its parameters: the negation of
    :func:`unexpired_assignment_sql` (an assignment without expiry never expires)."""
    return f"({column} IS NOT NULL AND {column} <= %s)", [_expiry_param(now)]


def current_assignment_sql(*, assignment: str, tag: str, now: datetime) -> tuple[str, list]:
    """``current()`` as a SQL condition and its parameters, for a statement that joins the
    assignments (alias ``assignment``) to their tags (alias ``tag``)."""
    unexpired, params = unexpired_assignment_sql(f"{assignment}.expires_at", now)
    return f"NOT {tag}.is_deleted AND {unexpired}", params


class TagAssignmentQuerySet(models.QuerySet):
    def current(self, now: datetime | None = None) -> "TagAssignmentQuerySet":
        """The one definition of a current assignment: tag not deleted, not expired."""
        return self.unexpired(now).filter(tag__is_deleted=False)

    def unexpired(self, now: datetime | None = None) -> "TagAssignmentQuerySet":
        """Not expired; for callers that have already checked that the tags are not deleted
        (segment rules, which name their tags, check that once instead of joining per row)."""
        now = now or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def expired(self, now: datetime | None = None) -> "TagAssignmentQuerySet":
        return self.filter(expires_at__lte=now or timezone.now())


class TagAssignment(models.Model):
    """One tag on one customer; rows are inserted and deleted by key, never rewritten as a list."""

    # No single-column indexes: (customer, tag) and (tag, customer) below serve both lookups,
    # and every index is one more write per assignment in bulk retagging.
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="tag_assignments",
        db_index=False,
    )
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    category = models.CharField(max_length=50, blank=True)
    source = models.CharField(max_length=50, default="api")
    expires_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # a partial index below: most rows have none, and bulk writes pay per index
    )
    created_at = models.DateTimeField(default=timezone.now)

    # History is read by customer, by tag and by date; the other indexes would only slow bulk
    # writes down.
    history = HistoricalRecords(
        history_change_reason_field=models.TextField(null=True),
        no_db_index=["id", "assigned_by"],
        bases=[ChangeSetHistory],
    )
    objects = TagAssignmentQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "tag"], name="one_assignment_per_tag")
        ]
        indexes = [
            models.Index(fields=["tag", "customer"], name="assignment_tag_customer"),
            models.Index(
                fields=["assigned_by"],
                condition=models.Q(assigned_by__isnull=False),
                name="assignment_assigned_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.customer_id}"


def default_change_set_counts() -> dict:
    return {"customers": 0, "added": 0, "removed": 0, "conflicts": 0, "skipped_limit": 0}


class ChangeSet(models.Model):
    """One bulk change as a record: who asked for what, on which customers, and how it went.

    Every assignment history row and event the change writes carries its id, so a change-set
    can be listed, followed while it runs and (later) reverted. ``cursor`` is the last
    customer id of the last batch committed: the batches go in id order, so a run stopped
    half-way knows where to start again. Rows are written by ``tags.services.change_sets``.
    """

    class Kind(models.TextChoices):
        RETAG = "retag"
        BULK_TAG = "bulk_tag"
        MERGE = "merge"
        STATUS = "status"
        REVERT = "revert"

    class State(models.TextChoices):
        PLANNED = "planned"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"
        REVERTED = "reverted"

    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    selection = models.JSONField(default=dict, blank=True)
    add = models.JSONField(default=list, blank=True)
    remove = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    counts = models.JSONField(default=default_change_set_counts)
    total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Customers selected, when known before the run."
    )
    cursor = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    customer_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="A background run's customers (ids, sorted): the cursor walks them.",
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text="A background run's change: category, source, expires_at, create_missing.",
    )
    conflicts = models.JSONField(
        default=list,
        blank=True,
        help_text="A revert's first conflicts: pairs changed again since, left as they are.",
    )
    reverts = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reverted_by"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Change-sets are written by the bulk paths only; people read them and (later) revert
        # or cancel them.
        default_permissions = ("view", "change")
        indexes = [models.Index(fields=["state", "id"], name="change_set_state")]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.state})"

    @property
    def tag_conflicts(self) -> list[dict]:
        """The customer × tag pairs a revert left alone, as the API lists them. A status
        change-set keeps its refused customers in ``conflicts`` too, but as customer and
        reason, which the admin shows and the API does not (its items are pairs)."""
        return [] if self.kind == self.Kind.STATUS else self.conflicts

    @property
    def progress(self) -> float:
        """0–1: customers processed over customers selected (1 once finished)."""
        if self.state in {self.State.DONE, self.State.REVERTED}:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.counts.get("customers", 0) / self.total)
