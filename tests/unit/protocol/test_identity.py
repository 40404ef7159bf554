from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from perdure.protocol.identity import (
    JWT_HEADER,
    SCHEME_HEADER,
    IdentityError,
    RequestSigner,
    RequestVerifier,
    b58decode,
    b58encode,
    normalise_path,
    parse_public_key,
    public_key_string,
)


def test_base58_round_trip_with_leading_zeros() -> None:
    for data in [b"", b"\0", b"\0\0abc", bytes(range(32))]:
        assert b58decode(b58encode(data)) == data


def test_public_key_string_round_trip() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    text = public_key_string(key)
    assert text.startswith("publickeyv1_")
    assert public_key_string(parse_public_key(text)) == text


def test_audience_is_the_normalised_path() -> None:
    assert normalise_path("/prefix/invoke/Svc/run") == "/invoke/Svc/run"
    assert normalise_path("/a/b/discover") == "/discover"


def _setup() -> tuple[RequestSigner, RequestVerifier]:
    key = Ed25519PrivateKey.generate()
    return RequestSigner(key), RequestVerifier.from_strings([public_key_string(key.public_key())])


def test_a_signed_request_verifies_under_a_prefix() -> None:
    signer, verifier = _setup()
    verifier.verify("/p/invoke/S/h", signer.headers("/invoke/S/h", subject="k"))


def test_wrong_key_missing_headers_wrong_audience_and_expiry_are_refused() -> None:
    signer, verifier = _setup()
    other = RequestSigner(Ed25519PrivateKey.generate())
    with pytest.raises(IdentityError, match="does not match"):
        verifier.verify("/invoke/S/h", other.headers("/invoke/S/h"))
    with pytest.raises(IdentityError, match="not signed"):
        verifier.verify("/invoke/S/h", {})
    with pytest.raises(IdentityError, match="not signed"):
        verifier.verify("/invoke/S/h", {SCHEME_HEADER: "unsigned"})
    with pytest.raises(IdentityError, match="audience"):
        verifier.verify("/invoke/S/other", signer.headers("/invoke/S/h"))
    with pytest.raises(IdentityError, match="expired"):
        verifier.verify("/invoke/S/h", signer.headers("/invoke/S/h", now=0))
    tampered = signer.headers("/invoke/S/h")
    tampered[JWT_HEADER] = tampered[JWT_HEADER][:-4] + "AAAA"
    with pytest.raises(IdentityError):
        verifier.verify("/invoke/S/h", tampered)


def test_no_keys_means_everything_is_accepted() -> None:
    RequestVerifier(()).verify("/invoke/S/h", {})
