"""The signing view's quick reading of a form (accepted_signing) against SignForm itself.

The view builds SignForm only when the quick reading declines; both must agree on every
form, and on what is stored when they accept: any difference would let through a signing
the form refuses, or refuse one without saying why.
"""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from campaign.petition.forms import SignForm, accepted_signing
from tests.factories import SIGN_FORM

VALID = {k: v for k, v in SIGN_FORM.items() if k != "started"}  # the trap is not the form's

# Values near each rule's edges, and anything at all.
names = st.one_of(
    st.sampled_from(["Jeanne", "  Jean   Pierre ", "", "   ", "J", "Zoé-Lou", "=cmd", "O'Neil"]),
    st.sampled_from(["a" * 100, "a" * 101, " " + "b" * 100, "Jean\u200bne", "Jean\x00", "12"]),
    st.text(max_size=110),
)
emails = st.one_of(
    st.sampled_from(
        [
            "jeanne@example.org",
            " jeanne@example.org ",
            "Jeanne@Example.ORG",
            "jeanne@exemple-été.fr",
            "jéanne@example.org",
            "jeanne@",
            "@example.org",
            "jeanne@localhost",
            "",
            " ",
            "a" * 64 + "@" + "b" * 185 + ".org",
            "a" * 64 + "@" + "b" * 186 + ".org",
        ]
    ),
    st.text(max_size=40),
    st.builds(lambda u, d: f"{u}@{d}.fr", st.text(min_size=1, max_size=12), st.text(max_size=12)),
)
countries = st.one_of(
    st.sampled_from(["FR", "BE", "fr", "", "XX", "EU", "GP", "DE"]), st.text(max_size=3)
)
postcodes = st.one_of(
    st.sampled_from(["75011", " 75011 ", "97100", "20000", "2A004", "00000", "7501", "750111"]),
    st.sampled_from(["", "  ", "1000", "sw1a 1aa", "B-1000", "-1000", "=1+1", "D\x0701", "1" * 13]),
    st.text(max_size=14),
)
checkbox = st.sampled_from(["y", "on", "false", "", "0"])
tags = st.one_of(
    st.sampled_from(["qr-affiche", "Newsletter", "", "x" * 70, "a b", "12"]), st.text(max_size=8)
)

FIELDS = {
    "first_name": names,
    "last_name": names,
    "email": emails,
    "country": countries,
    "postcode": postcodes,
    "consent": checkbox,
    "optin_collective": checkbox,
    **{name: tags for name in SignForm.tag_fields},
}


@st.composite
def forms(draw: st.DrawFn) -> MultiDict[str, str]:
    """A valid form with some fields changed or left out, sometimes a field given twice."""
    data: list[tuple[str, str]] = []
    for name, values in FIELDS.items():
        choice = draw(st.sampled_from(["valid", "changed", "missing", "twice"]))
        valid = VALID.get(name)
        if choice == "missing" or (choice == "valid" and valid is None):
            continue
        value = valid if choice == "valid" else draw(values)
        data.append((name, value))  # type: ignore[arg-type]
        if choice == "twice":
            data.append((name, draw(values)))
    return MultiDict(data)


def _form_reading(app: Flask, formdata: MultiDict[str, str]):  # type: ignore[no-untyped-def]
    with app.test_request_context(method="POST", data=formdata):
        form = SignForm()
        return form.to_input() if form.validate() else None


def test_a_valid_form_is_read_the_same_way(app: Flask):
    formdata = MultiDict({**VALID, "source": "qr-affiche", "optin_collective": "y", "org": "ABC"})
    quick = accepted_signing(formdata)
    assert quick is not None
    assert quick == _form_reading(app, formdata)
    assert (quick.source, quick.referral_code, quick.optin_collective) == (
        "qr-affiche",
        "abc",
        True,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"first_name": " "},
        {"email": "jeanne@"},
        {"postcode": "00000"},
        {"country": "XX"},
        {"consent": ""},
        {"last_name": "a" * 101},
    ],
)
def test_each_refusal_of_the_form_is_a_refusal_of_the_quick_reading(app: Flask, change: dict):
    formdata = MultiDict({**VALID, **change})
    assert _form_reading(app, formdata) is None
    assert accepted_signing(formdata) is None


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(formdata=forms())
def test_the_quick_reading_agrees_with_the_form_on_any_form(
    app: Flask, formdata: MultiDict[str, str]
):
    assert accepted_signing(formdata) == _form_reading(app, formdata)
