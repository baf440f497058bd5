"""The role-matrix helper itself: which cases a declaration generates (the generated tests run
against real endpoints in each app's API tests, e.g. TestProductRoles)."""

import pytest

from core.models import Job, Role
from core.testing.role_matrix import CRUD, LIST, RETRIEVE, RoleMatrix, action


class Declared(RoleMatrix):  # not collected: the name does not start with "Test"
    list_url = "/api/things/"
    model = Job
    create_data = {"name": "new"}
    actions = (action("purge", "delete", role=Role.ADMIN), action("stats", "get"))


def cases(matrix, kind):
    return {(role, operation.name) for role, operation in matrix.cases(kind)}


def test_anonymous_is_tried_on_every_operation_and_action():
    names = ("list", "retrieve", "create", "update", "partial_update", "destroy", "purge", "stats")
    assert cases(Declared(), "anonymous") == {(None, name) for name in names}


def test_viewers_read_operators_write_and_an_admin_action_refuses_operators():
    refused = cases(Declared(), "refused")
    allowed = cases(Declared(), "allowed")
    writes = ("create", "update", "partial_update", "destroy")
    assert {(Role.VIEWER, name) for name in writes} <= refused
    assert {(None, name) for name in ("list", "retrieve", "stats", "purge", *writes)} <= refused
    assert (Role.OPERATOR, "purge") in refused and (Role.ADMIN, "purge") in allowed
    assert {(role, "list") for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)} <= allowed
    assert {(role, "stats") for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN)} <= allowed
    assert {(Role.OPERATOR, name) for name in writes} <= allowed
    assert not refused & allowed
    # every signed-in role meets every operation exactly once, refused or allowed
    assert len(refused) + len(allowed) == 4 * (len(CRUD) + 2)


def test_read_and_write_roles_raise_every_operation_of_an_endpoint():
    class OperatorsOnly(Declared):
        read_role = write_role = Role.OPERATOR

    allowed = cases(OperatorsOnly(), "allowed")
    assert (Role.VIEWER, "list") in cases(OperatorsOnly(), "refused")
    assert not {role for role, _ in allowed} & {None, Role.VIEWER}


def test_actions_follow_drf_urls_and_bodies_fall_back_to_the_create_body():
    matrix = Declared()
    purge, stats = matrix.actions
    assert matrix.url_for(purge, None) == "/api/things/purge/"
    detail = action("rotate", detail=True)
    assert detail.url == "{detail_url}rotate/" and detail.writes and not stats.writes
    assert matrix.update_data == matrix.partial_update_data == {"name": "new"}
    body = matrix.request_data(CRUD[3], None)
    body["name"] = "changed by a view"
    assert matrix.create_data == {"name": "new"}


def test_an_incomplete_declaration_is_refused_with_what_is_missing():
    class NoUrl(RoleMatrix):
        model = Job

    class NoInstance(Declared):
        operations = (LIST, RETRIEVE)

    with pytest.raises(TypeError, match="list_url"):
        NoUrl().cases("anonymous")
    with pytest.raises(TypeError, match="instance"):
        NoInstance().url_for(RETRIEVE, None)
