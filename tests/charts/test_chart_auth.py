"""RepoAuth from chart pull secret data: accepted shapes, refused ones, and that neither
repr nor str ever shows the password or the private key."""

from __future__ import annotations

import pytest

from controller.charts import ChartError, RepoAuth

CERT = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\ntopsecretkey\n-----END PRIVATE KEY-----\n"


def test_reads_all_keys() -> None:
    auth = RepoAuth.from_secret_data(
        {
            "username": b"reader",
            "password": b"p\xc3\xa4ss",
            "caFile": CERT,
            "certFile": CERT,
            "keyFile": KEY,
        }
    )
    assert auth == RepoAuth("reader", "päss", CERT, CERT, KEY)


def test_empty_secret_means_no_credentials() -> None:
    assert RepoAuth.from_secret_data({}) == RepoAuth()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"username": b"reader"}, "both username and password"),
        ({"password": b"x"}, "both username and password"),
        ({"certFile": CERT}, "both certFile and keyFile"),
        ({"keyFile": KEY}, "both certFile and keyFile"),
        ({"caFile": b"not pem"}, "caFile is not PEM"),
        ({"username": b"\xff", "password": b"x"}, "UTF-8"),
    ],
)
def test_refuses_incomplete_or_malformed_data(data: dict[str, bytes], problem: str) -> None:
    error = RepoAuth.from_secret_data(data)
    assert isinstance(error, ChartError)
    assert error.reason == "Unauthorized"
    assert not error.retryable
    assert problem in error.message


def test_repr_and_str_hide_secrets() -> None:
    auth = RepoAuth("reader", "hunter2", CERT, CERT, KEY)
    for text in (repr(auth), str(auth), f"{auth}", repr([auth])):
        assert "reader" in text
        assert "hunter2" not in text
        assert "topsecretkey" not in text
    assert "password=None" in repr(RepoAuth())
