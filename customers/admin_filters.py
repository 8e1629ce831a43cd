"""Customer list filters for lists too long to show whole: tags and segments."""

from django.contrib import admin, messages
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import HttpRequest

from segments.models import Segment
from segments.selectors import segment_find, segment_members
from tags.selectors import change_set_customers, has_current_tags, tag_find, tags_most_used

# The tag filter lists the most used tags; counting them reads every assignment, so the list
# is cached briefly per process (a tag typed into the box needs no cache).
TOP_TAGS = 15
TOP_TAGS_CACHE_SECONDS = 60
TOP_TAGS_CACHE_KEY = "admin:customer-tag-filter:top-tags"
SEGMENTS_LISTED = 50


class _Resolving:
    """A filter whose value names an object (found once per value: "Show counts" asks again
    for every listed choice)."""

    @staticmethod
    def find(value: str):
        raise NotImplementedError

    def resolve(self, value: str | None):
        memo = self.__dict__.setdefault("_resolved", {})
        if value and value not in memo:
            memo[value] = self.find(value)
        return memo.get(value) if value else None


class _ParamsMixin:
    """Keeps the changelist's other parameters, so a filter's own GET form can carry them."""

    other_params: list[tuple[str, str]] = []

    def remember_params(self, changelist) -> None:
        skip = {self.parameter_name, "p", "e"}
        self.other_params = [
            (name, value)
            for name, values in changelist.params.items()
            if name not in skip
            for value in (values if isinstance(values, list) else [values])
        ]


class TagFilter(_Resolving, _ParamsMixin, admin.SimpleListFilter):
    """``?tag=<id or name>``: customers currently holding the tag. Lists the most used tags
    and has a box for any other."""

    title = "tag"
    parameter_name = "tag"
    template = "admin/customers/tag_filter.html"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        self.tag = self.resolve(self.value())
        top = cache.get_or_set(
            TOP_TAGS_CACHE_KEY, lambda: tags_most_used(limit=TOP_TAGS), TOP_TAGS_CACHE_SECONDS
        )
        choices = [(row["id"], row["name"]) for row in top]
        if self.tag is not None and self.tag.pk not in {pk for pk, _ in choices}:
            choices.insert(0, (self.tag.pk, str(self.tag)))
        return choices

    def has_output(self) -> bool:
        return True  # the box is useful even before any tag is in use

    def box_value(self) -> str:
        """What the box shows: the tag's name when the filter found one, else what was typed."""
        return self.tag.name if self.tag is not None else (self.value() or "")

    @staticmethod
    def find(value: str):
        return tag_find(value)

    def choices(self, changelist):
        """Django's choices, with the listed tag selected however it was named (id or name)."""
        self.remember_params(changelist)
        selected = self.tag.pk if self.tag is not None else None
        items = super().choices(changelist)
        yield next(items)  # "All"
        for (pk, _), item in zip(self.lookup_choices, items, strict=True):
            yield {**item, "selected": pk == selected}

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        tag = self.resolve(self.value())
        if tag is None:
            messages.warning(request, f"No tag is named or numbered '{self.value()}'.")
            return queryset.none()
        return queryset.filter(has_current_tags([tag.name_key]))


class SegmentFilter(_Resolving, admin.SimpleListFilter):
    """``?segment=<id>``: the segment's members now (active segments are listed)."""

    title = "segment"
    parameter_name = "segment"

    @staticmethod
    def find(value: str):
        return segment_find(value)

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        chosen = self.resolve(self.value())
        choices = list(
            Segment.objects.filter(is_active=True)
            .order_by("name")
            .values_list("id", "name")[:SEGMENTS_LISTED]
        )
        if chosen is not None and chosen.pk not in {pk for pk, _ in choices}:
            choices.insert(0, (chosen.pk, str(chosen)))
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        segment = self.resolve(self.value())
        if segment is None:
            messages.warning(request, f"No segment has the id '{self.value()}'.")
            return queryset.none()
        return segment_members(segment, queryset)


class ChangeSetFilter(admin.SimpleListFilter):
    """``?change_set=<id>``: the customers a change-set changed (its page links here). Not
    listed in the sidebar: there are too many change-sets to choose from."""

    title = "change-set"
    parameter_name = "change_set"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [(self.value(), self.value())] if self.value() else []

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value():
            return queryset
        return change_set_customers(self.value(), queryset)
