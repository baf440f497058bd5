"""One code at a time: create, find (any letter case), update, mark used, revoke.

Bulk changes (files, patterns, millions of rows) are jobs: `codes.services.bulk_*`.
Every change records who made it (`actor`) and when; `used` and `revoked` are reached only
through `mark_used` / `revoke` (and `allocation.allocate_code`), never as a side effect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.utils import timezone

from core.exceptions import PlatformError

from ..exceptions import (
    CodeAlreadyUsed,
    CodeExpired,
    CodeRevoked,
    CodeTaken,
    InvalidCode,
)
from ..models import Code, CodeStatus, CodeType
from ..rules import CODE_TYPE_RE, PROBLEM_MESSAGES, code_problem
from .pool import check_pools

#: Fields `update_code` may change (status changes have their own services).
UPDATABLE_FIELDS = (
    "code",
    "code_type",
    "discount_percent",
    "discount_amount",
    "campaign",
    "expires_at",
    "metadata",
)


def with_code_text(queryset: QuerySet, text: str) -> QuerySet:
    """`queryset` narrowed to the code `text`, in any letter case (served by the unique
    index on lower(code))."""
    return queryset.alias(code_lower=Lower("code")).filter(code_lower=Lower(Value(text.strip())))


def find_code(text: str, queryset: QuerySet | None = None) -> Code | None:
    """The code whose text is `text` in any letter case, or None."""
    queryset = Code.objects.all() if queryset is None else queryset
    return with_code_text(queryset, text).first()


def ensure_code_types(slugs: Iterable[str]) -> None:
    """Create the code types that do not exist yet, with the default settings."""
    wanted = {slug for slug in slugs if slug}
    for slug in wanted:
        if not CODE_TYPE_RE.fullmatch(slug):
            raise PlatformError(
                PROBLEM_MESSAGES["invalid_type"], fields={"code_type": [f"'{slug}' is invalid."]}
            )
    missing = wanted - set(CodeType.objects.filter(slug__in=wanted).values_list("slug", flat=True))
    if missing:
        CodeType.objects.bulk_create(
            [CodeType(slug=slug) for slug in sorted(missing)], ignore_conflicts=True
        )


def _type_defaults(slugs: Iterable[str]) -> dict[str, Any]:
    return dict(
        CodeType.objects.filter(slug__in=set(slugs)).values_list("slug", "default_discount_percent")
    )


def create_codes(items: list[Mapping[str, Any]], *, actor=None) -> list[Code]:
    """Create codes from validated field dicts (`code` required; `code_type` defaults to
    CODES_DEFAULT_CODE_TYPE). All or nothing: an invalid code is a 400 naming its position,
    a code that exists (any letter case) or appears twice is a 409 naming it.

    A code naming no discount gets its type's default discount percent, if any.
    """
    codes, problems, seen, repeated = [], {}, {}, []
    for index, item in enumerate(items):
        text = (item.get("code") or "").strip()
        problem = code_problem(text)
        if problem:
            problems[str(index)] = {"code": [PROBLEM_MESSAGES[problem]]}
            continue
        if text.lower() in seen:
            repeated.append(text)
        seen[text.lower()] = text
        code_type = item.get("code_type") or settings.CODES_DEFAULT_CODE_TYPE
        codes.append(_new_code(text, code_type, item, actor))
    if problems:
        if len(items) == 1:
            raise InvalidCode(problems["0"]["code"][0], fields=problems["0"])
        raise InvalidCode("Some codes are invalid.", fields=problems)
    if repeated:
        raise CodeTaken(f"Codes appear more than once in the request: {', '.join(repeated)}.")
    ensure_code_types(code.code_type_id for code in codes)
    defaults = _type_defaults(code.code_type_id for code in codes)
    for code in codes:
        if code.discount_percent is None and code.discount_amount is None:
            code.discount_percent = defaults.get(code.code_type_id)
    taken = list(
        Code.objects.alias(code_lower=Lower("code"))
        .filter(code_lower__in=list(seen))
        .values_list("code", flat=True)
    )
    if taken:
        raise _taken(taken)
    try:
        with transaction.atomic():
            created = Code.objects.bulk_create(codes)
            # New codes may end a shortage: re-arm the pool_low signal of their types.
            check_pools(code.code_type_id for code in codes)
    except IntegrityError as exc:  # created meanwhile by someone else
        raise _taken([code.code for code in codes if _exists(code.code)]) from exc
    return created


def _new_code(text: str, code_type: str, item: Mapping[str, Any], actor) -> Code:
    return Code(
        code=text,
        code_type_id=code_type,
        discount_percent=item.get("discount_percent"),
        discount_amount=item.get("discount_amount"),
        campaign=item.get("campaign") or "",
        expires_at=item.get("expires_at"),
        metadata=item.get("metadata") or {},
        created_by=_actor(actor),
        updated_by=_actor(actor),
    )


def _exists(text: str) -> bool:
    return with_code_text(Code.objects.all(), text).exists()


def _taken(texts: list[str]) -> CodeTaken:
    if len(texts) == 1:
        return CodeTaken(
            f"Code '{texts[0]}' exists already (codes ignore letter case).",
            fields={"code": ["A code with this text exists already."]},
        )
    shown = ", ".join(texts[:20]) + (" ..." if len(texts) > 20 else "")
    return CodeTaken(f"{len(texts)} codes exist already (codes ignore letter case): {shown}.")


def _actor(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def update_code(code: Code, changes: Mapping[str, Any], *, actor=None) -> Code:
    """Change the properties of `code` (UPDATABLE_FIELDS; the others are refused).

    A new text is checked like a new code, and only an available code may get one (a used
    code's text is in a customer's hands). Setting a percentage clears the amount and the
    other way round, so a code never carries both.
    """
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise PlatformError(
            "These fields cannot be changed here.",
            fields={name: ["Read-only."] for name in unknown},
        )
    changes = dict(changes)
    with transaction.atomic():
        code = Code.objects.select_for_update().get(pk=code.pk)
        if "code" in changes:
            _check_new_text(code, changes)
        if "code_type" in changes:
            ensure_code_types([changes["code_type"]])
            changes["code_type_id"] = changes.pop("code_type")
        if changes.get("discount_percent") is not None:
            changes.setdefault("discount_amount", None)
        if changes.get("discount_amount") is not None:
            changes.setdefault("discount_percent", None)
        for name, value in changes.items():
            setattr(code, name, value)
        code.updated_by = _actor(actor)
        try:
            with transaction.atomic():
                code.save()
        except IntegrityError as exc:
            raise _taken([code.code]) from exc
        check_pools([code.code_type_id])
    return code


def _check_new_text(code: Code, changes: dict) -> None:
    text = (changes["code"] or "").strip()
    problem = code_problem(text)
    if problem:
        raise InvalidCode(PROBLEM_MESSAGES[problem], fields={"code": [PROBLEM_MESSAGES[problem]]})
    if text == code.code:
        del changes["code"]
        return
    if code.status == CodeStatus.USED:
        raise CodeAlreadyUsed(code.code, code.reference)
    if code.status == CodeStatus.REVOKED:
        raise CodeRevoked(f"Code '{code.code}' is revoked; its text cannot change.")
    if find_code(text, Code.objects.exclude(pk=code.pk)) is not None:
        raise _taken([text])
    changes["previous_code"] = code.code
    changes["code"] = text


@dataclass(frozen=True)
class Change:
    """The code after a status change, and whether this call changed it (False: no-op)."""

    code: Code
    changed: bool


def mark_used(code: Code, *, reference: str = "", metadata: Mapping | None = None, actor=None):
    """Mark `code` used for `reference` (an order id, a buyer's email).

    Again for the same reference: a no-op (changed=False). Used for another reference: 409
    `code_already_used` naming it. Revoked or expired: 409.
    """
    reference = (reference or "").strip()
    with transaction.atomic():
        code = Code.objects.select_for_update().get(pk=code.pk)
        if code.status == CodeStatus.USED:
            if code.reference == reference:
                return Change(code, False)
            raise CodeAlreadyUsed(code.code, code.reference)
        if code.status == CodeStatus.REVOKED:
            raise CodeRevoked(f"Code '{code.code}' is revoked: {code.revoked_reason or '-'}")
        if code.is_expired:
            raise CodeExpired(f"Code '{code.code}' expired at {code.expires_at.isoformat()}.")
        code.status = CodeStatus.USED
        code.reference = reference
        code.used_at = timezone.now()
        code.used_by = code.updated_by = _actor(actor)
        if metadata:
            code.metadata = {**code.metadata, **metadata}
        code.save()
        check_pools([code.code_type_id])
    return Change(code, True)


def revoke(code: Code, *, reason: str = "", actor=None) -> Change:
    """Revoke `code` (whatever its status) with a reason; revoking it again is a no-op."""
    with transaction.atomic():
        code = Code.objects.select_for_update().get(pk=code.pk)
        if code.status == CodeStatus.REVOKED:
            return Change(code, False)
        code.status = CodeStatus.REVOKED
        code.revoked_reason = (reason or "").strip()
        code.revoked_at = timezone.now()
        code.revoked_by = code.updated_by = _actor(actor)
        code.save()
        check_pools([code.code_type_id])
    return Change(code, True)


def revoke_codes(queryset: QuerySet, *, reason: str = "", actor=None) -> int:
    """Revoke every code of `queryset` that is not revoked yet, in one statement."""
    now = timezone.now()
    with transaction.atomic():
        types = set(queryset.values_list("code_type_id", flat=True).distinct())
        count = (
            queryset.exclude(status=CodeStatus.REVOKED)
            .order_by()
            .update(
                status=CodeStatus.REVOKED,
                revoked_reason=(reason or "").strip(),
                revoked_at=now,
                revoked_by=_actor(actor),
                updated_by=_actor(actor),
                updated_at=now,
            )
        )
        check_pools(types)
    return count
