from django.core.paginator import Paginator
from rest_framework.pagination import CursorPagination, PageNumberPagination

from apps.core.query import query_integer

API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 500


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
