"""Small pure functions: email canonical forms, postcodes, names."""

from __future__ import annotations

import pytest

from campaign.core.emails import canonical_email
from campaign.core.geo import departement_for_postcode
from campaign.core.text import name_problem


@pytest.mark.parametrize(
    ("address", "canonical"),
    [
        ("Jean.Dupont@Example.org", "jean.dupont@example.org"),
        ("Jean.Dupont+petition@gmail.com", "jeandupont@gmail.com"),
        ("j.e.a.n@googlemail.com", "jean@gmail.com"),
        ("jean+tag@outlook.fr", "jean@outlook.fr"),
        ("jean.dupont+tag@orange.fr", "jean.dupont+tag@orange.fr"),
        ("JEAN@LAPOSTE.NET", "jean@laposte.net"),
        ("  spaced@example.org ", "spaced@example.org"),
    ],
)
def test_canonical_email(address, canonical):
    assert canonical_email(address) == canonical


@pytest.mark.parametrize(
    ("postcode", "departement"),
    [
        ("75011", "75"),
        ("69003", "69"),
        ("13008", "13"),
        ("01000", "01"),
        ("95000", "95"),
        ("20000", "2A"),
        ("20100", "2A"),
        ("20200", "2B"),
        ("20600", "2B"),
        ("97100", "971"),
        ("97200", "972"),
        ("97300", "973"),
        ("97400", "974"),
        ("97600", "976"),
        ("98800", "988"),
        ("00000", None),
        ("ABCDE", None),
        ("1234", None),
        ("750111", None),
        ("96000", None),
        ("97900", None),
        ("97133", "971"),  # Saint-Barthélemy
        ("98400", "984"),
        ("７５０１１", None),  # fullwidth digits
        ("٧٥٠١١", None),  # Arabic-Indic digits
        ("20900", None),
        ("", None),
    ],
)
def test_departement_for_postcode(postcode, departement):
    assert departement_for_postcode(postcode) == departement


@pytest.mark.parametrize(
    "name",
    [
        "Jeanne",
        "Jean-Pierre",
        "O’Connor",
        "N'Diaye",
        "Åsa",
        "Hélène Lefèvre",
        "De la Tour",
        "می\u200cخواهم",  # Persian needs the zero-width non-joiner
    ],
)
def test_real_names_are_accepted(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(
    "name",
    [
        "=HYPERLINK(1)",
        "+33",
        "-x",
        "@jean",
        "http://spam.example",
        "www.exemple.com",
        "achetez sur promo.fr",
        "Jean\x00",
        "\x1b[31mRouge",
        "Jean\u202eevil",
        "<script>",
        "Jean 2",
        "''",
    ],
)
def test_non_names_are_refused_with_a_french_reason(name):
    problem = name_problem(name)
    assert problem
    assert problem.endswith(".")


def test_the_country_list_is_iso_countries_in_french_order_with_france_first():
    from campaign.core.forms import country_choices

    codes = [code for code, _ in country_choices()]
    names = [name for _, name in country_choices()]
    assert codes[0] == "FR"
    assert len(codes) == len(set(codes))
    for not_a_country in ("XA", "XB", "EU", "UN", "ZZ", "AC", "IC"):
        assert not_a_country not in codes
    for overseas in ("RE", "GP", "MQ", "YT", "NC", "PF"):
        assert overseas not in codes  # these sign as France, with their postcode
    assert names.index("États-Unis") < names.index("Fidji")
    assert names.index("Éthiopie") < names.index("Fidji")


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ],
)
def test_rate_limits_key_ipv6_clients_by_their_64(app, address, key):
    from campaign.extensions import client_network

    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        assert client_network() == key
