"""allocate_code: one statement, idempotent, never a code twice, never an expired one."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from codes.exceptions import IdempotencyKeyReused, PoolEmpty, UnknownCodeType
from codes.models import Code, CodeAllocation, CodeStatus, CodeType
from codes.services.allocation import allocate_code
from codes.services.codes import revoke
from codes.signals import pool_low

from .factories import make_codes

pytestmark = pytest.mark.django_db


def test_allocation_hands_out_an_available_code_and_marks_it_used(make_user):
    make_codes(3)
    operator = make_user("operator")

    allocation = allocate_code("discount", reference="order-1", actor=operator)

    assert allocation.created is True
    code = Code.objects.get(pk=allocation.code.pk)
    assert code.status == CodeStatus.USED
    assert code.reference == "order-1"
    assert code.used_by == operator
    assert code.used_at == allocation.allocated_at is not None
    assert allocation.code.code == code.code
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 2
    assert CodeAllocation.objects.get().code_id == code.pk


def test_the_same_idempotency_key_returns_the_same_code():
    make_codes(3)

    first = allocate_code("discount", idempotency_key="key-1")
    again = allocate_code("discount", idempotency_key="key-1")

    assert again.created is False
    assert again.code.pk == first.code.pk
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1


def test_the_same_reference_returns_the_same_code_even_with_another_key():
    make_codes(3)

    first = allocate_code("discount", reference="order-9", idempotency_key="a")
    again = allocate_code("discount", reference="order-9", idempotency_key="b")

    assert (again.created, again.code.pk) == (False, first.code.pk)
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1


def test_a_key_reused_for_another_reference_is_a_conflict():
    make_codes(3)
    allocate_code("discount", reference="order-1", idempotency_key="k")

    with pytest.raises(IdempotencyKeyReused):
        allocate_code("discount", reference="order-2", idempotency_key="k")
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1


def test_an_empty_pool_and_an_unknown_type_are_refused():
    make_codes(1)
    allocate_code("discount")

    with pytest.raises(PoolEmpty) as empty:
        allocate_code("discount")
    assert empty.value.status == 409 and empty.value.code == "pool_empty"
    with pytest.raises(UnknownCodeType):
        allocate_code("no-such-type")


def test_a_retry_of_an_allocation_still_answers_when_the_pool_is_empty_now():
    make_codes(1)
    first = allocate_code("discount", reference="order-1")

    again = allocate_code("discount", reference="order-1")

    assert again.code.pk == first.code.pk and again.created is False


def test_expired_and_revoked_codes_are_never_handed_out_and_the_soonest_expiry_goes_first():
    now = timezone.now()
    expired = make_codes(1, prefix="OLD", expires_at=now - timedelta(minutes=1))[0]
    later = make_codes(1, prefix="LATER", expires_at=now + timedelta(days=30))[0]
    soon = make_codes(1, prefix="SOON", expires_at=now + timedelta(days=1))[0]
    never = make_codes(1, prefix="NEVER")[0]
    revoked = make_codes(1, prefix="GONE")[0]
    revoke(revoked, reason="leaked")

    order = [allocate_code("discount").code.pk for _ in range(3)]

    assert order == [soon.pk, later.pk, never.pk]
    with pytest.raises(PoolEmpty):
        allocate_code("discount")
    assert Code.objects.get(pk=expired.pk).status == CodeStatus.AVAILABLE


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocations_never_hand_out_a_code_twice_and_lose_none():
    make_codes(120)
    results, errors = [], []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def client(number):
        start.wait()
        try:
            while True:
                try:
                    allocation = allocate_code("discount", reference=f"c{number}-{len(results)}")
                except PoolEmpty:
                    return
                with lock:
                    results.append(allocation.code.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert len(results) == 120
    assert len(set(results)) == 120
    assert Code.objects.filter(status=CodeStatus.USED).count() == 120
    assert CodeAllocation.objects.count() == 120


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_of_one_order_get_one_code():
    make_codes(20)
    results = []
    start = threading.Barrier(10)

    def client():
        start.wait()
        try:
            results.append(allocate_code("discount", reference="order-42").code.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=client) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(results) == 10
    assert len(set(results)) == 1
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1
    assert Code.objects.filter(status=CodeStatus.AVAILABLE).count() == 19


@pytest.mark.django_db(transaction=True)
def test_pool_low_is_sent_once_per_shortage_after_commit():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    CodeType.objects.create(slug="discount", low_water_mark=3)
    make_codes(4)
    pool_low.connect(receiver)
    try:
        allocate_code("discount")  # 3 left: not below the mark
        assert received == []
        allocate_code("discount")  # 2 left
        allocate_code("discount")  # 1 left: already announced
        assert received == [
            {"signal": pool_low, "code_type": "discount", "available": 2, "low_water_mark": 3}
        ]
        assert CodeType.objects.get(slug="discount").pool_low_since is not None

        make_codes(5, prefix="MORE")  # 6 left: re-armed
        assert CodeType.objects.get(slug="discount").pool_low_since is None
        for _ in range(4):
            allocate_code("discount")
        assert len(received) == 2 and received[1]["available"] == 2
    finally:
        pool_low.disconnect(receiver)


@pytest.mark.django_db(transaction=True)
def test_a_call_whose_claim_lost_rolls_its_code_back_and_returns_the_winners():
    make_codes(5)
    winner_claimed, release = threading.Event(), threading.Event()
    results = {}

    def winner():
        try:
            with transaction.atomic():
                results["winner"] = allocate_code("discount", reference="order-7").code.pk
                winner_claimed.set()
                release.wait(30)
        finally:
            connection.close()

    def loser():
        try:
            results["loser"] = allocate_code("discount", reference="order-7")
        finally:
            connection.close()

    first = threading.Thread(target=winner)
    first.start()
    assert winner_claimed.wait(30)
    second = threading.Thread(target=loser)
    second.start()
    second.join(0.5)  # its claim waits for the winner's uncommitted one
    release.set()
    first.join(30)
    second.join(30)

    assert results["loser"].created is False
    assert results["loser"].code.pk == results["winner"]
    assert Code.objects.filter(status=CodeStatus.USED).count() == 1
    assert CodeAllocation.objects.count() == 1


def test_the_pool_is_counted_only_when_it_may_be_near_its_mark(
    monkeypatch, django_capture_on_commit_callbacks
):
    counted = []
    monkeypatch.setattr(
        "codes.services.allocation.check_pool",
        lambda code_type, low_water_mark: counted.append(low_water_mark),
    )
    CodeType.objects.create(slug="discount", low_water_mark=3)
    make_codes(6)

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):  # 6, 5, 4 available before: at least the mark after
            allocate_code("discount")
    assert counted == []
    with django_capture_on_commit_callbacks(execute=True):
        allocate_code("discount")  # 3 available before: 2 after, below the mark
    assert counted == [3]
