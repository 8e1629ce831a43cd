from django.db import models
from simple_history.models import HistoricalRecords

from config.fields import ULIDField, new_ulid
from config.names import NamedModelMixin


class Segment(NamedModelMixin, models.Model):
    """Customers defined by tag rules: all of, any of, none of, and optionally status labels."""

    id = ULIDField(primary_key=True, default=new_ulid, editable=False)
    name = models.CharField(max_length=100)
    name_key = models.CharField(max_length=100, unique=True, editable=False)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    tags_all = models.ManyToManyField(
        "tags.Tag", blank=True, related_name="+", verbose_name="has all of"
    )
    tags_any = models.ManyToManyField(
        "tags.Tag", blank=True, related_name="+", verbose_name="has any of"
    )
    tags_none = models.ManyToManyField(
        "tags.Tag", blank=True, related_name="+", verbose_name="has none of"
    )
    status_labels = models.ManyToManyField(
        "statuses.StatusLabel", blank=True, related_name="+", verbose_name="with one of the labels"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(
        history_change_reason_field=models.TextField(null=True),
        excluded_fields=["name_key"],
        m2m_fields=[tags_all, tags_any, tags_none, status_labels],
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def rule(self) -> dict[str, list[str]]:
        """The rule by names (sorted), read from the (prefetched) relations."""
        return {
            "all": sorted(t.name for t in self.tags_all.all()),
            "any": sorted(t.name for t in self.tags_any.all()),
            "none": sorted(t.name for t in self.tags_none.all()),
            "status_labels": sorted(label.name for label in self.status_labels.all()),
        }
