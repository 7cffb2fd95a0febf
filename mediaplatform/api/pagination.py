"""Page sizes taken exactly as the schema documents them.

DRF's paginators read a `per_page` that is not a positive integer (`x`, `0`, `-3`) as "the default size" and
a client that sent junk got a page it did not ask for, and the schema's `integer` said nothing of it. Here a
`per_page` that is not a whole number of at least 1 answers 400 naming it; one past the maximum still gets the
maximum, and a blank one still reads as absent. The documented parameters carry the bounds.
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
        # Past the maximum a page still holds the maximum, as before; digits are bounded (see bounded_integer).
        size = bounded_integer(raw, (1, 10**9))
        if size is None:
            message = (
                f"{self.page_size_query_param} must be a whole number of at least 1 "
                f"(pages hold at most {self.max_page_size})."
            )
            raise ValidationError({self.page_size_query_param: [message]})
        return min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=10**9)
                parameter["description"] = f"Results per page; at most {self.max_page_size} are given."
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
