"""Admins managing users over /api/auth/users/: explicit changes only, and never a platform
without an active admin."""

import threading

import pytest
from django.db import connection, transaction

from core.exceptions import LastActiveAdmin
from core.models import Role, User
from core.services.accounts import change_user_access
from core.testing.role_matrix import LIST, PARTIAL_UPDATE, RETRIEVE, UPDATE, RoleMatrix

pytestmark = pytest.mark.django_db


def url(user):
    return f"/api/auth/users/{user.pk}/"


def fresh(user):
    return User.objects.get(pk=user.pk)


class TestUserAdminRoles(RoleMatrix):
    """Only admins list users and change their access; nobody creates or deletes them here."""

    list_url = "/api/auth/users/"
    watched_models = (User, User.groups.through)  # a role is a group membership
    operations = (LIST, RETRIEVE, UPDATE, PARTIAL_UPDATE)
    read_role = write_role = Role.ADMIN
    update_data = {"role": "operator", "is_active": True, "is_staff": True}
    partial_update_data = {"role": "operator"}

    @pytest.fixture
    def instance(self, make_user):
        return make_user("viewer")


def test_put_with_an_empty_body_is_a_400_and_changes_nothing(client_for, make_user):
    admin = client_for("admin")
    target = make_user("operator", is_staff=True)
    for body in ({}, None):
        response = admin.put(url(target), body, format="json")
        assert response.status_code == 400, response.content
        fields = response.json()["error"]["fields"]
        assert set(fields) == {"role", "is_active", "is_staff"}
    target = fresh(target)
    assert (target.is_active, target.is_staff, target.role) == (True, True, Role.OPERATOR)


def test_put_with_every_field_changes_them(client_for, make_user):
    admin = client_for("admin")
    target = make_user("operator")
    response = admin.put(
        url(target), {"role": "viewer", "is_active": False, "is_staff": True}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["role"] == "viewer"
    target = fresh(target)
    assert (target.is_active, target.is_staff, target.role) == (False, True, Role.VIEWER)


def test_a_user_read_back_can_be_put_back_with_a_change(client_for, make_user):
    admin = client_for("admin")
    target = make_user("viewer")
    body = admin.get(url(target)).json()
    body["role"] = "operator"
    response = admin.put(url(target), body, format="json")
    assert response.status_code == 200, response.content
    assert fresh(target).role == Role.OPERATOR
    assert fresh(target).email == body["email"]


def test_patch_changes_only_what_it_names(client_for, make_user):
    admin = client_for("admin")
    target = make_user("operator", is_staff=True)
    response = admin.patch(url(target), {"is_active": False}, format="json")
    assert response.status_code == 200
    target = fresh(target)
    assert (target.is_active, target.is_staff, target.role) == (False, True, Role.OPERATOR)
    refused = admin.patch(url(target), {"is_superuser": True}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"is_superuser": ["Unknown field."]}
    assert admin.patch(url(target), {"role": None}, format="json").status_code == 400


@pytest.mark.parametrize(
    "change", [{"is_active": False}, {"role": "operator"}, {"role": "viewer"}, {"is_staff": False}]
)
def test_an_admin_cannot_take_admin_access_from_themselves(client_for, make_user, change):
    admin = client_for("admin", is_staff=True)
    make_user("admin")  # another admin exists: the refusal is about oneself
    response = admin.patch(url(admin.user), change, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "own_admin_access"
    me = fresh(admin.user)
    assert (me.is_active, me.is_staff, me.role) == (True, True, Role.ADMIN)


def test_an_admin_may_change_their_own_harmless_flags(client_for):
    admin = client_for("admin")
    response = admin.put(
        url(admin.user), {"role": "admin", "is_active": True, "is_staff": True}, format="json"
    )
    assert response.status_code == 200
    assert fresh(admin.user).is_staff


def test_an_admin_may_demote_another_admin(client_for, make_user):
    admin = client_for("admin")
    other = make_user("admin")
    assert admin.patch(url(other), {"role": "operator"}, format="json").status_code == 200
    assert fresh(other).role == Role.OPERATOR


def test_the_last_active_admin_is_never_deactivated_or_demoted(make_user):
    only_admin = make_user("admin", is_staff=True)
    make_user("admin", is_active=False)  # an inactive admin does not count
    # Another entry point (the admin console, a script) acting for someone else.
    operator = make_user("operator")
    for change in ({"is_active": False}, {"role": Role.OPERATOR}, {"is_staff": False}):
        with pytest.raises(LastActiveAdmin):
            change_user_access(operator, only_admin, **change)
    only_admin = fresh(only_admin)
    assert (only_admin.is_active, only_admin.is_staff, only_admin.role) == (
        True,
        True,
        Role.ADMIN,
    )


def test_a_superusers_role_is_not_changed_silently(client_for, make_user):
    admin = client_for("admin")
    root = make_user(None, is_superuser=True, is_staff=True)
    response = admin.patch(url(root), {"role": "viewer"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "superuser_role"
    assert fresh(root).role == Role.ADMIN


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(make_user):
    first = make_user("admin")
    second = make_user("admin")
    first_demoted, commit_first = threading.Event(), threading.Event()
    outcomes = {}

    def demote_second_and_hold_the_transaction():
        try:
            with transaction.atomic():
                change_user_access(first, second, role=Role.OPERATOR)
                first_demoted.set()
                commit_first.wait(10)
            outcomes["first"] = "demoted"
        finally:
            connection.close()

    def demote_first():
        try:
            change_user_access(second, first, role=Role.OPERATOR)
            outcomes["second"] = "demoted"
        except LastActiveAdmin:
            outcomes["second"] = "refused"
        finally:
            connection.close()

    holder = threading.Thread(target=demote_second_and_hold_the_transaction)
    holder.start()
    assert first_demoted.wait(10)
    racer = threading.Thread(target=demote_first)
    racer.start()
    racer.join(0.5)
    assert racer.is_alive(), "the second change must wait for the first to commit"
    commit_first.set()
    holder.join(10)
    racer.join(10)
    assert outcomes == {"first": "demoted", "second": "refused"}
    assert (fresh(first).role, fresh(second).role) == (Role.ADMIN, Role.OPERATOR)
