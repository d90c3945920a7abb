"""One Principal type: e-mail addresses are checked and normalised in one place."""

from __future__ import annotations

import pytest

from sealroom.errors import BadRequestError
from sealroom.model.principal import Principal, check_email, is_email_address, normalise_email


def test_spellings_of_one_address_are_one_principal() -> None:
    assert Principal.of("  Alice@Bank.Example ") == Principal.of("alice@bank.example")
    assert Principal.of("Alice@Bank.Example").email == "alice@bank.example"
    assert str(Principal.of("alice@bank.example")) == "alice@bank.example"


def test_a_principal_recognises_its_address_however_it_is_spelt() -> None:
    alice = Principal.of("alice@bank.example")
    assert alice.is_named("ALICE@bank.example")
    assert not alice.is_named("bob@bank.example")


@pytest.mark.parametrize(
    "email",
    [
        "",
        "alice",
        "alice@",
        "@bank.example",
        "a@b@c",
        "alice smith@bank.example",
        "alice,bob@bank.example",
        "alice\n@bank.example",
        "alice\x85@bank.example",
        "alice\u202e@bank.example",  # a right-to-left override: displays as another address
        "alice\u200b@bank.example",  # zero width space
        "a" * 320 + "@bank.example",
    ],
)
def test_what_is_not_an_address_names_nobody(email: str) -> None:
    assert not is_email_address(email)
    with pytest.raises(BadRequestError, match="is not an e-mail address"):
        Principal.of(email)


def test_a_principal_is_built_normalised_or_not_at_all() -> None:
    with pytest.raises(BadRequestError, match="normalised"):
        Principal("Alice@bank.example")


def test_normalising_is_idempotent() -> None:
    assert normalise_email(normalise_email(" A@B.example")) == "a@b.example"
    assert check_email(" A@B.example") == "a@b.example"
