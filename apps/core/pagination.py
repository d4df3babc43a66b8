from django.core.paginator import Paginator
from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginate(request, queryset, *, per_page: int = 50):
    """A Django Page for HTML lists; an out-of-range page number shows the last page."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))
