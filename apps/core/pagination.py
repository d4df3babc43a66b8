"""Pagination: page numbers for short lists, keyset pages for lists that grow without bound.

A keyset page costs the page, not the table: its query seeks to the row after (or before)
a cursor through an index that starts with the ordering key, where an OFFSET reads and
throws away every row in front of it, and a COUNT(*) reads them all. A cursor is the
ordering key of the row at the page's edge, written as integers (a datetime as microseconds
since the epoch), so a tampered cursor is just ignored, never a query error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import Q, QuerySet
from rest_framework.pagination import CursorPagination, PageNumberPagination

from apps.core.query import query_integer

API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 500

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BIGINT = 2**63
CURSOR_PARAMS = ("after", "before", "from", "last", "page")


class StandardPagination(PageNumberPagination):
    """The API's page-number pages. `page` and `page_size` are whole numbers within their
    bounds, or the answer is a 400 naming the parameter (never a silent default); a page
    past the end is a 404. The schema gives both their bounds."""

    page_size = API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = API_MAX_PAGE_SIZE
    last_page_strings = ()  # `page` is a number: "last" is a 400 like any other word

    def get_page_size(self, request):
        return _page_size(self, request)

    def paginate_queryset(self, queryset, request, view=None):
        query_integer(request.query_params, self.page_query_param, minimum=1)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        return _bounded(
            super().get_schema_operation_parameters(view),
            {self.page_query_param: {"minimum": 1}, **_page_size_bounds(self)},
        )


class NewestFirstCursorPagination(CursorPagination):
    """The API's keyset pages (no COUNT, stable under inserts), newest first; a view sets
    its `ordering`. `page_size` as in StandardPagination; a cursor we did not hand out is
    a 404."""

    ordering = ("-created_at", "-id")
    page_size = API_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = API_MAX_PAGE_SIZE

    def get_page_size(self, request):
        return _page_size(self, request)

    def get_schema_operation_parameters(self, view):
        return _bounded(super().get_schema_operation_parameters(view), _page_size_bounds(self))


def _page_size(pagination, request) -> int:
    size = query_integer(
        request.query_params,
        pagination.page_size_query_param,
        minimum=1,
        maximum=pagination.max_page_size,
    )
    return pagination.page_size if size is None else size


def _page_size_bounds(pagination) -> dict[str, dict]:
    return {
        pagination.page_size_query_param: {
            "minimum": 1,
            "maximum": pagination.max_page_size,
            "default": pagination.page_size,
        }
    }


def _bounded(parameters: list[dict], bounds: dict[str, dict]) -> list[dict]:
    """The pagination's schema parameters with their bounds."""
    for parameter in parameters:
        extra = bounds.get(parameter["name"])
        if extra:
            parameter["schema"] = {**parameter["schema"], **extra}
    return parameters


def paginate(request, queryset, *, per_page: int = 50):
    """A Django Page for HTML lists; an out-of-range page number shows the last page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


# --- counts that do not read the table ------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """How many rows a list holds: exact (a kept counter, or a page that holds them all),
    the database's estimate ("about N"), or at least `value` ("over N", counted to a cap).
    Templates show it with `{% load counts %}{{ page.count|approx }}`."""

    value: int
    exact: bool = True
    at_least: bool = False


COUNT_CAP = 10_000  # SQLite: counted up to here, "over N" beyond
EXACT_BELOW = 1_000  # PostgreSQL: a list the planner thinks this small is counted


def estimated_count(queryset: QuerySet[Any], *, cap: int = COUNT_CAP) -> Count:
    """The number of rows `queryset` would return, without reading them all.

    PostgreSQL: the planner's estimate for the query (EXPLAIN, no execution; statistics kept
    by autovacuum). Where it expects fewer than EXACT_BELOW rows, a COUNT over at most that
    many + 1 makes it exact (fresh tables have no statistics yet), an estimate again if more
    turn up. Other databases (the embedded SQLite of one machine): a COUNT over at most
    `cap` + 1 rows, "over `cap`" beyond. Either way the cost has a ceiling."""
    qs = queryset.order_by()
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        counted = qs[: cap + 1].count()
        return Count(cap, exact=False, at_least=True) if counted > cap else Count(counted)
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimate = int(plan[0]["Plan"]["Plan Rows"])
    if estimate >= EXACT_BELOW:
        return Count(estimate, exact=False)
    counted = qs[: EXACT_BELOW + 1].count()
    if counted > EXACT_BELOW:
        return Count(EXACT_BELOW, exact=False, at_least=True)
    return Count(counted)


# --- keyset pages ---------------------------------------------------------------------------


def _is_datetime(model: type[models.Model], name: str) -> bool:
    try:
        return isinstance(model._meta.get_field(name), models.DateTimeField)
    except FieldDoesNotExist:  # "variant_id" and other attnames: integer columns
        return False


def _encode(value: Any) -> str:
    if isinstance(value, datetime):
        return str((value - _EPOCH) // timedelta(microseconds=1))
    return str(int(value))


def _decode(model: type[models.Model], names: Sequence[str], cursor: str) -> list[Any] | None:
    parts = (cursor or "").split("_")
    if len(parts) != len(names):
        return None
    values: list[Any] = []
    for name, part in zip(names, parts, strict=True):
        digits = part[1:] if part.startswith("-") else part
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
            return None
        number = int(part)
        if not -BIGINT <= number < BIGINT:  # what no column holds is no cursor
            return None
        if _is_datetime(model, name):
            try:
                values.append(_EPOCH + timedelta(microseconds=number))
            except OverflowError:
                return None
        else:
            values.append(number)
    return values


@dataclass
class KeysetPage:
    """One page of a keyset-paginated list, for components/pagination.html.

    `next_query` / `previous_query` / `last_query` are the GET parameters of the links (the
    list's filters are added by the template); `count` is a `Count` or None."""

    rows: list[Any]
    has_previous: bool
    has_next: bool
    next_cursor: str | None = None
    previous_cursor: str | None = None
    # The parameters that show this same page again (after a write re-renders the table).
    current_query: str = ""
    count: Count | None = None
    keyset: bool = field(default=True, init=False)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def is_first(self) -> bool:
        return not self.has_previous

    @property
    def next_query(self) -> str:
        return urlencode({"after": self.next_cursor}) if self.next_cursor else ""

    @property
    def previous_query(self) -> str:
        return urlencode({"before": self.previous_cursor}) if self.previous_cursor else ""

    @property
    def last_query(self) -> str:
        return "last=1"

    # The names Django's Page uses, so code written for page numbers keeps working.
    @property
    def object_list(self) -> list[Any]:
        return self.rows

    @property
    def next_page_number(self) -> str | None:
        return self.next_cursor

    @property
    def previous_page_number(self) -> str | None:
        return self.previous_cursor


def _after(
    names: Sequence[str], descending: Sequence[bool], values: Sequence[Any], *, inclusive: bool
) -> Q:
    """Rows after `values` in the ordering (and the row at `values` when `inclusive`). The
    first key's own bound comes first, so the database reads a range of the index instead
    of filtering all of it."""
    lead = f"{names[0]}__{'lte' if descending[0] else 'gte'}"
    condition = Q()
    for i in range(len(names)):
        last = i == len(names) - 1
        op = ("lte" if descending[i] else "gte") if last and inclusive else None
        op = op or ("lt" if descending[i] else "gt")
        step = Q(**{names[j]: values[j] for j in range(i)})
        condition |= step & Q(**{f"{names[i]}__{op}": values[i]})
    return Q(**{lead: values[0]}) & condition


def keyset_page(
    queryset: QuerySet[Any],
    *,
    order: Sequence[str],
    params: Mapping[str, Any],
    per_page: int = 50,
    count: Count | None = None,
) -> KeysetPage:
    """The page `params` asks for of `queryset` ordered by `order`: `after=<cursor>` (the
    rows after it), `before=<cursor>` (the rows before it), `from=<cursor>` (from that row
    on: the same page again), `last=1`, or else the first page. The keys of `order` must
    identify one row (end with the primary key) and be integer or datetime columns.

    Reads per_page + 1 rows through an index on the ordering: the same cost on any page of
    any size of list. A malformed cursor shows the first page."""
    model = queryset.model
    names = [key.lstrip("-") for key in order]
    descending = [key.startswith("-") for key in order]
    backwards = [not desc for desc in descending]
    backward_order = [
        f"-{name}" if back else name for name, back in zip(names, backwards, strict=True)
    ]

    def decode(key: str) -> list[Any] | None:
        return _decode(model, names, str(params.get(key) or ""))

    def cursor_of(row: Any) -> str:
        return "_".join(_encode(getattr(row, name)) for name in names)

    after, start, before = decode("after"), decode("from"), decode("before")
    if after is not None or start is not None:
        qs = queryset.order_by(*order).filter(
            _after(names, descending, after or start or [], inclusive=after is None)
        )
        rows = list(qs[: per_page + 1])
        has_next, has_previous = len(rows) > per_page, True
        rows = rows[:per_page]
    elif before is not None or params.get("last"):
        qs = queryset.order_by(*backward_order)
        if before is not None:
            qs = qs.filter(_after(names, backwards, before, inclusive=False))
        rows = list(qs[: per_page + 1])
        has_previous, has_next = len(rows) > per_page, before is not None
        rows = rows[:per_page][::-1]
    else:
        rows = list(queryset.order_by(*order)[: per_page + 1])
        has_next, has_previous = len(rows) > per_page, False
        rows = rows[:per_page]
    if not rows and (has_previous or has_next):
        # The rows around the cursor are gone (deleted, or a hand-made cursor): show the
        # nearest end of the list rather than an empty page with links.
        fallback = {"last": "1"} if has_previous else {}
        return keyset_page(queryset, order=order, params=fallback, per_page=per_page, count=count)
    if not has_previous and not has_next:
        count = Count(len(rows))  # the whole list is on this page
    return KeysetPage(
        rows=rows,
        has_previous=has_previous,
        has_next=has_next,
        next_cursor=cursor_of(rows[-1]) if has_next and rows else None,
        previous_cursor=cursor_of(rows[0]) if has_previous and rows else None,
        current_query=urlencode({"from": cursor_of(rows[0])}) if has_previous and rows else "",
        count=count,
    )


def without_cursor(params: Mapping[str, Any]) -> dict[str, Any]:
    """The list's filters from a QueryDict or dict: everything but the page's cursor."""
    return {k: v for k, v in params.items() if k not in CURSOR_PARAMS and v}
