from rest_framework.pagination import PageNumberPagination


class PagePagination(PageNumberPagination):
    """`?page=N&per_page=M` pagination; `count` tells the total."""

    page_size = 25
    page_size_query_param = "per_page"
    max_page_size = 100
