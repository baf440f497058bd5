"""Who may do what on an API endpoint: declared once per endpoint, checked for every role.

A test module subclasses `RoleMatrix` (in a class named `Test…`) and says where the endpoint
is, which operations it has and what a valid request looks like. Every case is generated from
that declaration, for every operation:

- anonymous → 401 `not_authenticated`, and nothing changes;
- a signed-in user below the role the operation needs (a user with no role included)
  → 403 `permission_denied`, and the watched tables are exactly as before;
- the role it needs and every role above → the operation's success status; a write changed
  the watched tables, a read left them alone.

    from core.testing.role_matrix import CRUD, RoleMatrix, action

    class TestProductRoles(RoleMatrix):
        list_url = "/api/products/"
        model = Product
        create_data = {"sku": "ROLES-1", "name": "Lamp", "price": "5.00"}
        update_data = {"sku": "ROLES-1", "name": "Renamed", "price": "6.00"}
        partial_update_data = {"name": "Renamed"}
        actions = (action("bulk-delete", "delete", role=Role.ADMIN, data={"confirm": True}),)

        @pytest.fixture
        def instance(self, make_product):
            return make_product()

Operations need `read_role` (GET, HEAD, OPTIONS; viewer by default) or `write_role` (the other
methods; operator by default) unless they name their own `role`. The roles are ordered
viewer < operator < admin, as `core.permissions.RolePermission` orders them.

Like NetBox's `APIViewTestCases`, an endpoint picks the operations it has: `CRUD` (list,
retrieve, create, update, partial_update, destroy), `READ_ONLY`, or any tuple of `LIST`,
`RETRIEVE`, `CREATE`, `UPDATE`, `PARTIAL_UPDATE`, `DESTROY` and its own `Operation`s.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pytest

from core.models import Role

SAFE_METHODS = frozenset({"get", "head", "options"})
#: Every signed-in user the matrix tries, lowest first; None is a user without a role.
ROLES = (None, Role.VIEWER, Role.OPERATOR, Role.ADMIN)


@dataclass(frozen=True)
class Operation:
    """One kind of request to the endpoint.

    `url` is a template: `{list_url}` and `{detail_url}` (the matrix's `detail_url(instance)`)
    are filled in. `data` is the JSON body: a dict, or the name of the matrix attribute that
    holds it. `role` is the role it needs (default: the matrix's read or write role).
    `changes` says whether success changes the watched tables (default: unless a safe method).
    """

    name: str
    method: str
    url: str
    status: int = 200
    role: str | None = None
    data: dict | str | None = None
    changes: bool | None = None

    @property
    def safe(self) -> bool:
        return self.method.lower() in SAFE_METHODS

    @property
    def writes(self) -> bool:
        return not self.safe if self.changes is None else self.changes


LIST = Operation("list", "get", "{list_url}")
RETRIEVE = Operation("retrieve", "get", "{detail_url}")
CREATE = Operation("create", "post", "{list_url}", 201, data="create_data")
UPDATE = Operation("update", "put", "{detail_url}", data="update_data")
PARTIAL_UPDATE = Operation("partial_update", "patch", "{detail_url}", data="partial_update_data")
DESTROY = Operation("destroy", "delete", "{detail_url}", 204)
#: A DRF ModelViewSet's operations.
CRUD = (LIST, RETRIEVE, CREATE, UPDATE, PARTIAL_UPDATE, DESTROY)
#: A ReadOnlyModelViewSet's operations.
READ_ONLY = (LIST, RETRIEVE)


def action(
    url_path: str,
    method: str = "post",
    *,
    detail: bool = False,
    status: int = 200,
    role: str | None = None,
    data: dict | str | None = None,
    changes: bool | None = None,
    url: str | None = None,
) -> Operation:
    """An extra route, as DRF's `@action(detail=..., url_path=...)` declares it: at
    `{detail_url}<url_path>/` (detail=True) or `{list_url}<url_path>/`, unless `url` (a
    template like Operation's) says otherwise. Its name in test ids is `url_path`."""
    if url is None:
        url = ("{detail_url}" if detail else "{list_url}") + f"{url_path}/"
    return Operation(url_path, method, url, status, role, data, changes)


def _generated(kind: str):
    """Mark a RoleMatrix test: RoleMatrix.pytest_generate_tests gives it its cases."""

    def mark(test):
        test.role_matrix_cases = kind
        return test

    return mark


def _role_id(role) -> str:
    return "no_role" if role is None else str(role)


def _rank(role) -> int:
    return ROLES.index(role)


class RoleMatrix:
    """Base of a test class checking who may do what on one endpoint; see the module's
    docstring. A subclass declares:

    - `list_url` (required) and, for detail operations, an `instance` fixture returning the
      object they act on (`detail_url(instance)` defaults to `{list_url}{pk}/`);
    - `model`, or `watched_models`: the tables a refused request must leave alone and a
      successful write must change (give the through model of a many-to-many too);
    - `operations` (default CRUD) and `actions` (extra `Operation`s, see `action()`);
    - `read_role` / `write_role` (default viewer / operator);
    - the bodies: `create_data`, `update_data` (default: create_data), `partial_update_data`
      (default: update_data). Override `request_data()` for bodies that depend on the
      instance.
    """

    pytestmark = [pytest.mark.django_db]

    list_url: str = ""
    model = None
    watched_models: tuple = ()
    operations: tuple[Operation, ...] = CRUD
    actions: tuple[Operation, ...] = ()
    read_role: str = Role.VIEWER
    write_role: str = Role.OPERATOR
    create_data: dict | None = None

    @property
    def update_data(self) -> dict | None:
        return self.create_data

    @property
    def partial_update_data(self) -> dict | None:
        return self.update_data

    @pytest.fixture
    def instance(self):
        """The object the detail operations act on: override with a fixture making one."""
        return None

    # --- the declaration, read --------------------------------------------------------------

    def detail_url(self, instance) -> str:
        if instance is None:
            raise TypeError(
                f"{type(self).__name__} has detail operations: give it an `instance` fixture "
                "(or a `detail_url` of its own)."
            )
        return f"{self.list_url}{instance.pk}/"

    def all_operations(self) -> tuple[Operation, ...]:
        return tuple(self.operations) + tuple(self.actions)

    def required_role(self, operation: Operation) -> str:
        if operation.role is not None:
            return operation.role
        return self.read_role if operation.safe else self.write_role

    def request_data(self, operation: Operation, instance) -> dict | None:
        """The JSON body sent for `operation` (a copy: a view may not change the declaration)."""
        data = operation.data
        if isinstance(data, str):
            name, data = data, getattr(self, data)
            if data is None:
                raise TypeError(f"{type(self).__name__} needs `{name}` for '{operation.name}'.")
        return copy.deepcopy(data)

    def url_for(self, operation: Operation, instance) -> str:
        values = {"list_url": self.list_url}
        if "{detail_url}" in operation.url:
            values["detail_url"] = self.detail_url(instance)
        return operation.url.format(**values)

    def snapshot(self) -> dict[str, list[dict]]:
        """Every row of the watched tables, as values, in primary-key order."""
        models = self.watched_models or (self.model,)
        return {
            model._meta.label: list(model._default_manager.order_by("pk").values())
            for model in models
        }

    def send(self, client, operation: Operation, instance):
        url = self.url_for(operation, instance)
        request = getattr(client, operation.method.lower())
        if operation.safe:
            return request(url)
        return request(url, self.request_data(operation, instance), format="json")

    # --- the generated cases ----------------------------------------------------------------

    def cases(self, kind: str) -> list[tuple]:
        """(role, operation) pairs of one kind: "anonymous", "refused" or "allowed"."""
        if not self.list_url or not (self.model or self.watched_models):
            raise TypeError(f"{type(self).__name__} must declare `list_url` and `model`.")
        operations = self.all_operations()
        if kind == "anonymous":
            return [(None, operation) for operation in operations]
        return [
            (role, operation)
            for operation in operations
            for role in ROLES
            if (_rank(role) >= _rank(self.required_role(operation))) == (kind == "allowed")
        ]

    def pytest_generate_tests(self, metafunc):
        kind = getattr(metafunc.function, "role_matrix_cases", None)
        if kind is None:
            return
        cases = self.cases(kind)
        if kind == "anonymous":
            metafunc.parametrize(
                "operation", [op for _, op in cases], ids=[op.name for _, op in cases]
            )
        else:
            metafunc.parametrize(
                ("role", "operation"),
                cases,
                ids=[f"{_role_id(role)}-{op.name}" for role, op in cases],
            )

    def _attempt(self, client, who: str, operation: Operation, instance):
        """Send `operation` as `who`; returns the response and a sentence for failures."""
        response = self.send(client, operation, instance)
        explanation = (
            f"{who}: {operation.method.upper()} {self.url_for(operation, instance)} "
            f"({operation.name}) answered {response.status_code}: {response.content[:500]!r}"
        )
        return response, explanation

    @_generated("anonymous")
    def test_anonymous_gets_401(self, operation, api_client, instance):
        before = self.snapshot()
        response, explanation = self._attempt(api_client, "anonymous", operation, instance)
        assert response.status_code == 401, explanation
        assert response.json()["error"]["code"] == "not_authenticated"
        assert self.snapshot() == before

    @_generated("refused")
    def test_role_below_the_required_one_gets_403_and_changes_nothing(
        self, role, operation, client_for, instance
    ):
        client = client_for(role)
        before = self.snapshot()
        response, explanation = self._attempt(client, _role_id(role), operation, instance)
        assert response.status_code == 403, explanation
        assert response.json()["error"]["code"] == "permission_denied"
        assert self.snapshot() == before

    @_generated("allowed")
    def test_required_role_and_above_succeed(self, role, operation, client_for, instance):
        client = client_for(role)
        before = self.snapshot()
        response, explanation = self._attempt(client, _role_id(role), operation, instance)
        assert response.status_code == operation.status, explanation
        if operation.writes:
            assert self.snapshot() != before, f"nothing changed. {explanation}"
        else:
            assert self.snapshot() == before, f"a read changed the data. {explanation}"
