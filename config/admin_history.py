"""History pages in the admin: who changed what, when and why, newest first, 50 a page.

Replaces django-simple-history's list (one model's records, a query per diff) with entries a
selector builds in a fixed number of queries, possibly merged from several logs.
"""

from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.utils.text import capfirst

from config.fields import parse_ulid

PER_PAGE = 50


class ValidIdHistoryMixin:
    """For django-simple-history's own history page on a model with a ULID key: a malformed
    id is a 404 (its view looks the id up unguarded, so garbage in the URL was a 500)."""

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        if parse_ulid(unquote(object_id)) is None:
            raise Http404
        return super().history_view(request, object_id, extra_context)


class HistoryPageMixin:
    """For a SimpleHistoryAdmin: ``history_page`` returns (page, entries) for an object."""

    history_page_template = "admin/history_page.html"
    history_page_intro = ""

    def history_page(
        self, *, obj, page_number: str | None, per_page: int
    ) -> tuple[Page, list[dict[str, Any]]]:
        raise NotImplementedError

    def history_object(self, request: HttpRequest, object_id: str):
        """The object, or its last recorded state when it was deleted for good."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            pk = unquote(object_id)
            record = (
                self.model.history.filter(**{self.model._meta.pk.attname: pk})
                .order_by("-history_id")
                .first()
                if parse_ulid(pk) is not None
                else None
            )
            if record is None:
                raise Http404
            obj = record.instance
        return obj

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        obj = self.history_object(request, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        page, entries = self.history_page(
            obj=obj, page_number=request.GET.get("p"), per_page=PER_PAGE
        )
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "subtitle": None,
            "object": obj,
            "opts": opts,
            "module_name": capfirst(opts.verbose_name_plural),
            "page_obj": page,
            "page_range": page.paginator.get_elided_page_range(page.number),
            "entries": entries,
            "intro": self.history_page_intro,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.history_page_template, context)
