"""Standard Webhooks signing: the spec's published example, secrets, verification."""

import base64

from webhook.services import signing


def test_signature_matches_the_standard_webhooks_reference_example():
    # The example of the Standard Webhooks specification / reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_generated_secrets_are_whsec_with_32_random_bytes():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and second.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert first != second


def test_verify_accepts_the_signature_and_rejects_any_change():
    secret = signing.generate_secret()
    header = signing.sign(secret, "msg_1", 1700000000, b"{}")
    assert signing.verify(secret, "msg_1", 1700000000, b"{}", f"v1,bogus {header}")
    assert not signing.verify(secret, "msg_1", 1700000000, b"{ }", header)
    assert not signing.verify(secret, "msg_2", 1700000000, b"{}", header)
    assert not signing.verify(secret, "msg_1", 1700000001, b"{}", header)
    assert not signing.verify(signing.generate_secret(), "msg_1", 1700000000, b"{}", header)
