"""Base45 (RFC 9285) against the RFC's own examples, plus round trips and bad input."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirrorkit.errors import QRError
from mirrorkit.qr import base45

# RFC 9285 section 4.3 (encoding) and 4.4 (decoding) examples.
RFC_EXAMPLES = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
                (b"ietf!", "QED8WEX0")]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_rfc_examples(raw: bytes, text: str) -> None:
    assert base45.encode(raw) == text
    assert base45.decode(text) == raw


def test_doctests_pass() -> None:
    failures, tried = doctest.testmod(base45)
    assert tried > 5 and failures == 0


@given(st.binary(max_size=300))
def test_round_trip_and_length(data: bytes) -> None:
    text = base45.encode(data)
    assert len(text) == base45.encoded_length(len(data))
    assert set(text) <= set(base45.ALPHABET)
    assert base45.decode(text) == data


@pytest.mark.parametrize("bad", ["A", "GGW", "ZZ", "abc", "BB8!", "BB8B"])
def test_bad_input_raises_typed_error(bad: str) -> None:
    # RFC 9285 section 6: a decoder must reject out-of-alphabet characters and impossible values.
    with pytest.raises(QRError):
        base45.decode(bad)
