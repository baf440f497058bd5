"""Link statistics read an empty `from`/`to` as not given, like every list filter."""

import pytest

pytestmark = pytest.mark.django_db


def test_empty_stats_dates_are_not_given(operator):
    from codes.models import Link

    Link.objects.create(short_id="stats-1", target_url="https://example.com/")
    assert operator.get("/api/links/stats-1/stats/", {"from": "", "to": ""}).status_code == 200
    assert operator.get("/api/links/stats-1/stats/", {"from": "nope"}).status_code == 400
