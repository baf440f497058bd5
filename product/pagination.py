"""Pagination of the product list: the platform's, minus COUNT(*) when page 1 says it all."""

from django.core.paginator import Paginator

from core.api.pagination import PageNumberPagination


class CountSparingPaginator(Paginator):
    """On page 1, fetch the rows first: a page that is not full *is* the whole result, so
    its length is the exact count and the COUNT(*) query is skipped."""

    def page(self, number):
        if str(number).strip() != "1" or "count" in self.__dict__:
            return super().page(number)
        rows = list(self.object_list[: self.per_page])
        if len(rows) < self.per_page:
            self.__dict__["count"] = len(rows)  # `count` is a cached_property
        # Reading self.count runs COUNT(*) only when the page is full.
        self.validate_number(1)
        return self._get_page(rows, 1, self)


class ProductPagination(PageNumberPagination):
    django_paginator_class = CountSparingPaginator
