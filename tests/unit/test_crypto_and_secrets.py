"""AES-GCM sealing with associated data, key rotation, and the secret-path walker."""

from __future__ import annotations

import pytest

from integrator.errors import ValidationFailed
from integrator.store import secrets
from integrator.store.crypto import Cipher, SecretDecryptError

PATHS = ("rest.bearerToken", "http.encrypted", "lookups.*.password")


def test_sealed_values_open_only_with_the_same_associated_data() -> None:
    cipher = Cipher(["key-one"])
    sealed = cipher.seal(b"hello", "acct:connections:1:rest.bearerToken")
    assert sealed.startswith("v1:") and "hello" not in sealed
    assert cipher.open(sealed, "acct:connections:1:rest.bearerToken") == b"hello"
    with pytest.raises(SecretDecryptError):
        cipher.open(sealed, "acct:connections:2:rest.bearerToken")
    with pytest.raises(SecretDecryptError):
        Cipher(["another-key"]).open(sealed, "acct:connections:1:rest.bearerToken")


def test_rotation_new_key_first_still_opens_old_values() -> None:
    old = Cipher(["old-key"])
    sealed = old.seal(b"v", "aad")
    rotated = Cipher.from_setting("new-key,old-key")
    assert rotated.open(sealed, "aad") == b"v"
    assert rotated.seal(b"v", "aad").split(":")[1] != sealed.split(":")[1]


def test_seal_mask_unseal_round_trip_with_wildcards() -> None:
    cipher = Cipher(["k"])
    doc = {
        "rest": {"bearerToken": "tok", "baseURI": "https://x"},
        "http": {"encrypted": {"apiKey": "a"}},
        "lookups": [{"password": "p0"}, {"name": "no secret"}, {"password": "p2"}],
    }
    sealed = secrets.seal(
        {**doc, "lookups": [dict(x) for x in doc["lookups"]]}, PATHS, cipher, "aad"
    )
    # The clear fields are gone (a substring check could match random ciphertext).
    assert "bearerToken" not in sealed["rest"] and "password" not in sealed["lookups"][0]
    assert set(sealed["lookups"][0]) == {"password_crypt"}
    masked = secrets.mask(
        {
            **sealed,
            "rest": dict(sealed["rest"]),
            "http": dict(sealed["http"]),
            "lookups": [dict(x) for x in sealed["lookups"]],
        },
        PATHS,
    )
    assert masked["rest"] == {"bearerToken": "******", "baseURI": "https://x"}
    assert masked["http"] == {"encrypted": "******"}
    assert masked["lookups"] == [
        {"password": "******"},
        {"name": "no secret"},
        {"password": "******"},
    ]
    assert secrets.unseal(sealed, PATHS, cipher, "aad") == doc


def test_mask_keeps_the_previous_sealed_value() -> None:
    cipher = Cipher(["k"])
    previous = secrets.seal({"rest": {"bearerToken": "tok"}}, PATHS, cipher, "aad")
    again = secrets.seal({"rest": {"bearerToken": "******"}}, PATHS, cipher, "aad", previous)
    assert again["rest"]["bearerToken_crypt"] == previous["rest"]["bearerToken_crypt"]
    with pytest.raises(ValidationFailed) as caught:
        secrets.seal({"rest": {"bearerToken": "******"}}, PATHS, cipher, "aad", None)
    assert caught.value.items[0].field == "rest.bearerToken"


def test_client_supplied_ciphertext_is_discarded() -> None:
    cipher = Cipher(["k"])
    sealed = secrets.seal({"rest": {"bearerToken_crypt": "v1:forged:AAAA"}}, PATHS, cipher, "a")
    assert sealed == {"rest": {}}
