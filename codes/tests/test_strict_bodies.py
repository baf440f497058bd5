"""Code action bodies: NUL in free-form JSON and bodies that are not objects are 400s."""

import pytest

pytestmark = pytest.mark.django_db


def test_nul_anywhere_in_free_form_json_is_a_400_not_a_500(operator):
    from codes.tests.factories import make_codes

    (code,) = make_codes(1)
    response = operator.post(
        f"/api/codes/{code.code}/mark-used/", {"metadata": {"a\x00": 1}}, format="json"
    )
    assert response.status_code == 400
    assert "metadata" in response.json()["error"]["fields"]


def test_an_optional_body_must_be_an_object(operator):
    from codes.tests.factories import make_codes

    (code,) = make_codes(1)
    response = operator.post(
        f"/api/codes/{code.code}/revoke/", data="null", content_type="application/json"
    )
    assert response.status_code == 400
