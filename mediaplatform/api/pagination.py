"""Page sizes taken exactly as the schema documents them.

DRF's paginators read a `per_page` that is not a positive integer (`x`, `0`, `-3`) as "the default size" and
cut one past the maximum down to it: a client that asked for something else got a page it did not ask for,
and the schema's `integer` said nothing of it. Here a `per_page` outside 1..max answers 400 naming it; a blank
one still reads as absent. The documented parameters carry the bounds.
"""

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination

from mediaplatform.api.fields import bounded_integer


class StrictPageSizeMixin:
    page_size_query_param = "per_page"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        size = bounded_integer(raw, (1, self.max_page_size))
        if size is None:
            message = f"{self.page_size_query_param} must be a whole number from 1 to {self.max_page_size}."
            raise ValidationError({self.page_size_query_param: [message]})
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == getattr(self, "page_query_param", None):
                parameter["schema"]["minimum"] = 1
        return parameters


class PagePagination(StrictPageSizeMixin, PageNumberPagination):
    """`?page=N&per_page=M` pagination; `count` tells the total. A page past the last answers 404."""

    page_size = 25
    # Only numbers: `page=last` is not documented, so it is not taken either.
    last_page_strings = ()


class StrictCursorPagination(StrictPageSizeMixin, CursorPagination):
    """Cursor pagination with the same `per_page`; a cursor that is not one of ours answers 404."""
