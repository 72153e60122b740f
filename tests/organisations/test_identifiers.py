"""SIREN (Luhn-checked) and RNA numbers."""

from __future__ import annotations

import pytest

from campaign.organisations.identifiers import (
    identifier_kind,
    identifier_problem,
    luhn_valid,
    normalise_identifier,
)


@pytest.mark.parametrize(
    "siren",
    ["732829320", "542051180", "552100554"],  # nine digits whose last is the Luhn key
)
def test_real_sirens_pass_the_luhn_check(siren):
    assert luhn_valid(siren)
    assert identifier_problem(siren) is None
    assert identifier_kind(siren) == "siren"


@pytest.mark.parametrize("siren", ["732829321", "123456789", "542051181"])
def test_a_wrong_check_digit_is_refused(siren):
    assert "clé de contrôle" in identifier_problem(siren)


@pytest.mark.parametrize("value", ["W751234567", "W000000001"])
def test_rna_numbers_are_accepted(value):
    assert identifier_problem(value) is None
    assert identifier_kind(value) == "rna"


@pytest.mark.parametrize(
    "value",
    ["", "W12345678", "W1234567890", "X751234567", "12345678", "1234567890", "７３２８２９３２０"],
)
def test_other_shapes_are_refused_in_french(value):
    assert identifier_problem(value).startswith("Indiquez un numéro RNA")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("w 751 234 567", "W751234567"), ("732 829 320", "732829320"), ("732.829-320", "732829320")],
)
def test_identifiers_are_normalised(raw, clean):
    assert normalise_identifier(raw) == clean
