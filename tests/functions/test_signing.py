from replyd.functions.signing import new_webhook_secret, sign, verify_signature

BODY = b'{"function":"book","arguments":{"day":"fri"}}'


def test_a_signature_verifies_with_the_same_secret_and_body() -> None:
    secret = new_webhook_secret()
    header = sign(secret, BODY, 1_800_000_000)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify_signature(secret, header, BODY, now=1_800_000_010)


def test_another_secret_body_or_old_timestamp_fails() -> None:
    secret = new_webhook_secret()
    header = sign(secret, BODY, 1_800_000_000)
    assert not verify_signature(new_webhook_secret(), header, BODY, now=1_800_000_000)
    assert not verify_signature(secret, header, BODY + b" ", now=1_800_000_000)
    assert not verify_signature(secret, header, BODY, now=1_800_000_000 + 301)
    assert not verify_signature(secret, "t=abc,v1=00", BODY, now=1_800_000_000)
    assert not verify_signature(secret, "", BODY)


def test_secrets_are_long_and_random() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second and first.startswith("whsec_") and len(first) >= 40
