"""Cursor pages of the change feed, in (transaction, id) order: the order in which events
become visible (events.fields), so a reader following ``next`` never skips one."""

import re

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor
from rest_framework.pagination import CursorPagination as DrfCursorPagination

from config.api.pagination import CursorPagination
from config.events.selectors import Position, events_after, events_before
from config.fields import parse_ulid

_POSITION = re.compile(r"^(\d{1,19})\.([0-9a-z]{26})$")


class EventCursorPagination(CursorPagination):
    ordering = ("txid", "id")

    def decode_cursor(self, request) -> Cursor | None:
        try:
            cursor = DrfCursorPagination.decode_cursor(self, request)
        except NotFound:  # DRF's answer to a cursor it cannot decode
            raise self._invalid_cursor() from None
        if cursor is None:
            return None
        if cursor.position is None or self._position(cursor.position) is None:
            raise self._invalid_cursor()
        return cursor

    @staticmethod
    def _position(text: str) -> Position | None:
        match = _POSITION.match(text)
        if not match or int(match[1]) >= 2**63:
            return None
        ulid = parse_ulid(match[2])
        return (int(match[1]), ulid) if ulid else None

    def _link(self, *, reverse: bool, position: Position) -> str:
        return self.encode_cursor(
            Cursor(offset=0, reverse=reverse, position=f"{position[0]}.{position[1]}")
        )

    def paginate_queryset(self, queryset, request, view=None) -> list:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        cursor = self.decode_cursor(request)
        reverse = bool(cursor and cursor.reverse)
        position = self._position(cursor.position) if cursor else None
        if position is not None:
            queryset = (events_before if reverse else events_after)(queryset, position)
        queryset = queryset.order_by("-txid", "-id") if reverse else queryset.order_by("txid", "id")
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        first = (rows[0].txid, rows[0].id) if rows else position
        last = (rows[-1].txid, rows[-1].id) if rows else position
        self._next = self._previous = None
        if reverse:
            self._previous = self._link(reverse=True, position=first) if more else None
            self._next = self._link(reverse=False, position=last)
        else:
            self._next = self._link(reverse=False, position=last) if more else None
            # a page reached through a cursor has events before it
            self._previous = self._link(reverse=True, position=first) if position else None
        return rows

    def get_next_link(self) -> str | None:
        return self._next

    def get_previous_link(self) -> str | None:
        return self._previous
