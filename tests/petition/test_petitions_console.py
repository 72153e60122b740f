"""Petitions run from the console: drafts, the private preview, the lifecycle steps (only
admins take them), the lock on a signed text and its versions, closed and relayed pages,
and bad input refused in French beside the field with nothing saved."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from campaign.console.models import Role
from campaign.core.audit import AuditEntry
from campaign.core.db import utcnow
from campaign.extensions import db
from campaign.organisations.models import Organisation
from campaign.petition import editing
from campaign.petition.models import (
    Petition,
    PetitionStatus,
    PetitionStatusChange,
    PetitionVersion,
    RelayClick,
    Signature,
)
from tests.console.helpers import sign_in
from tests.factories import (
    SIGN_FORM,
    confirmation_link,
    csrf_from,
    make_collective,
    make_member,
    make_petition,
    path_of,
    sign_through_form,
)
from tests.pages import field_error, flashed
from tests.pages import text_of as raw_text_of


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """The page's words without tags, no-break spaces (French typography) read as spaces."""
    words = re.sub(r"<[^>]+>", "", raw_text_of(response))
    return " ".join(words.replace("\u202f", " ").replace("\xa0", " ").split())


def drawn_at(page_html: str) -> str:
    """The time stamp of a public form (it has no CSRF token): what a tab left open posts."""
    match = re.search(r'name="started" type="hidden" value="([^"]+)"', page_html)
    assert match, "no time stamp in the form"
    return match.group(1)


NEW = "/console/petitions/nouvelle"


def demand_ids(app: Flask) -> list[int]:
    with app.app_context():
        collective = make_collective()
        db.session.commit()
        return [d.id for d in collective.demands]


def petition_fields(demands: list[int | str], **fields: str) -> dict[str, object]:
    values: dict[str, object] = {
        "title": "Protégeons les enfants",
        "slug": "",
        "addressee": "Madame la Première ministre",
        "summary": "Quatre mesures **urgentes**.",
        "text": "Nous demandons.\n\nEt *vite*.",
        "demands": [str(d) for d in demands],
        "call_to_action": "Je signe",
        "target": "50 000",
        "opens_at": "",
        "closes_at": "",
        "official_url": "",
    }
    values.update(fields)
    return values


def post_new(client: FlaskClient, data: dict[str, object]):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(NEW).text)
    return client.post(NEW, data={**data, "csrf_token": token})


def get(app: Flask, slug: str) -> Petition:
    return db.session.execute(select(Petition).where(Petition.slug == slug)).scalar_one()


def step(client: FlaskClient, slug: str, to: str, **fields: str):  # type: ignore[no-untyped-def]
    token = csrf_from(client.get(f"/console/petitions/{slug}").text)
    return client.post(
        f"/console/petitions/{slug}/etape", data={"to": to, "csrf_token": token, **fields}
    )


# --- drafts and the preview ------------------------------------------------------------------


def test_an_organiser_writes_a_draft_with_three_demands_in_their_order(app: Flask, client):
    ids = demand_ids(app)
    sign_in(app, client, Role.ORGANISER)
    response = post_new(client, petition_fields([ids[2], "", ids[0], ids[3]]))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/console/petitions/protegeons-les-enfants")
    with app.app_context():
        petition = get(app, "protegeons-les-enfants")
        assert petition.status is PetitionStatus.DRAFT
        assert [d.id for d in petition.demands] == [ids[2], ids[0], ids[3]]
        assert petition.target == 50_000 and petition.call_to_action == "Je signe"
        audit = db.session.execute(select(AuditEntry.action, AuditEntry.what)).all()
        assert ("petition.create", "protegeons-les-enfants") in audit
    # A draft is nowhere public.
    assert client.get("/petitions/protegeons-les-enfants").status_code == 404
    assert "protegeons" not in client.get("/").text


def test_a_draft_is_read_at_its_private_preview_link_and_cannot_be_signed(app: Flask, client):
    ids = demand_ids(app)
    sign_in(app, client, Role.ORGANISER)
    post_new(client, petition_fields(ids[:3]))
    console = client.get("/console/petitions/protegeons-les-enfants").text
    with app.app_context():
        token = editing.preview_token(get(app, "protegeons-les-enfants"))
    preview = f"/petitions/protegeons-les-enfants/apercu/{token}"
    assert preview in console
    stranger = app.test_client()
    page = stranger.get(preview)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "noindex" in page.headers["X-Robots-Tag"]
    text = text_of(page)
    assert "Aperçu d’un brouillon" in text and "Revendication 3" in text
    assert "<em>vite</em>" in page.text  # the Markdown subset, rendered
    assert 'name="first_name"' not in page.text
    assert stranger.get("/petitions/protegeons-les-enfants/apercu/faux").status_code == 404
    assert stranger.post("/petitions/protegeons-les-enfants").status_code in (400, 404)


BAD = [
    ("title", "", "Indiquez le titre de la pétition."),
    ("title", "x" * 301, "300 caractères au maximum."),
    ("addressee", "", "Indiquez à qui la pétition s’adresse."),
    ("text", "", "Écrivez le texte de la pétition."),
    ("text", "Un\x00texte", "caractères invisibles ou de contrôle"),
    ("slug", "Pétition Été", "Lettres minuscules sans accents"),
    ("slug", "a" * 81, "80 caractères au maximum."),
    ("target", "beaucoup", "Indiquez un nombre entier"),
    ("target", "-3", "Un nombre entre 0 et"),
    ("opens_at", "31/02/2027 10:00", "Date invalide"),
    ("closes_at", "pas une date", "Date invalide"),
    ("official_url", "http://petitions.assemblee-nationale.fr/x", "https://"),
    ("official_url", "javascript:alert(1)", "https://"),
    ("demands", "duplicate", "Une même revendication est choisie deux fois."),
    ("demands", "999999", "Choisissez les revendications dans les listes."),
    ("demands", "1e3", "Choisissez les revendications dans les listes."),
]


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD, ids=[f"{f}-{v!r:.12}" for f, v, _ in BAD]
)
def test_bad_input_is_refused_in_french_beside_the_field_and_nothing_is_saved(
    app: Flask, client, field: str, value: str, message: str
):
    ids = demand_ids(app)
    sign_in(app, client, Role.ORGANISER)
    if field == "demands":
        fields = petition_fields([ids[0], ids[0]] if value == "duplicate" else [ids[0], value])
    else:
        fields = petition_fields(ids[:2], **{field: value})
    response = post_new(client, fields)
    assert response.status_code == 422
    error = field_error(response, field)
    assert error is not None and message in error, error
    if field != "title":
        assert 'value="Protégeons les enfants"' in raw_text_of(response)  # what was typed stays
    with app.app_context():
        assert db.session.execute(select(func.count(Petition.id))).scalar_one() == 0


def test_closing_before_opening_and_a_taken_address_are_refused(app: Flask, client):
    ids = demand_ids(app)
    with app.app_context():
        make_petition(slug="deja-prise")
        db.session.commit()
    sign_in(app, client, Role.ORGANISER)
    response = post_new(
        client,
        petition_fields(ids, opens_at="2027-03-01T10:00", closes_at="01/03/2027 09:00"),
    )
    assert "La clôture doit suivre l’ouverture." in field_error(response, "closes_at")
    response = post_new(client, petition_fields(ids, slug="deja-prise"))
    assert "Une autre pétition a déjà cette adresse" in field_error(response, "slug")


def test_dates_are_paris_time(app: Flask, client):
    ids = demand_ids(app)
    sign_in(app, client, Role.ORGANISER)
    post_new(
        client, petition_fields(ids, opens_at="2027-01-15T09:30", closes_at="15/07/2027 18:00")
    )
    with app.app_context():
        petition = get(app, "protegeons-les-enfants")
        assert petition.opens_at.strftime("%Y-%m-%d %H:%M") == "2027-01-15 08:30"  # UTC+1
        assert petition.closes_at.strftime("%Y-%m-%d %H:%M") == "2027-07-15 16:00"  # UTC+2


# --- the lifecycle ----------------------------------------------------------------------------


def draft(app: Flask, **fields: object) -> str:
    with app.app_context():
        petition = make_petition(status=PetitionStatus.DRAFT, **fields)  # type: ignore[arg-type]
        db.session.commit()
        return petition.slug


def test_each_legal_step_is_taken_by_an_admin_audited_and_shown(app: Flask, client):
    slug = draft(app)
    sign_in(app, client, Role.ADMIN)
    for to in ("open", "closed", "open", "closed"):
        assert "maintenant" in flashed(client, step(client, slug, to))
    response = step(
        client,
        slug,
        "handed_over",
        handed_over_on="02/12/2026",
        note="Remise à la ministre le 2 décembre.",
    )
    assert response.status_code == 303
    with app.app_context():
        petition = get(app, slug)
        assert petition.status is PetitionStatus.HANDED_OVER
        assert str(petition.handed_over_on) == "2026-12-02"
        changes = [(c.from_status, c.to_status) for c in petition.status_changes]
        assert changes == [
            ("draft", "open"),
            ("open", "closed"),
            ("closed", "open"),
            ("open", "closed"),
            ("closed", "handed_over"),
        ]
        actions = db.session.execute(select(AuditEntry.action)).scalars().all()
        assert actions.count("petition.status.closed") == 2
        assert "petition.status.handed_over" in actions
    page = text_of(client.get(f"/petitions/{slug}"))
    assert "Pétition remise le mercredi 2 décembre 2026" in page
    assert "Remise à la ministre le 2 décembre." in page
    assert "Les étapes de la pétition" in page and 'name="first_name"' not in page


ILLEGAL = [
    ("draft", "closed", {}),
    ("draft", "handed_over", {"handed_over_on": "01/12/2026", "note": "x"}),
    ("open", "handed_over", {"handed_over_on": "01/12/2026", "note": "x"}),
    ("open", "draft", {}),
    ("handed_over", "open", {}),
    ("open", "open", {}),
    ("closed", "handed_over", {"note": "Sans date"}),
    ("closed", "handed_over", {"handed_over_on": "01/12/2026"}),
    ("closed", "handed_over", {"handed_over_on": "01/01/2099", "note": "Plus tard"}),
    ("open", "vanished", {}),
]


@pytest.mark.parametrize(("start", "to", "fields"), ILLEGAL)
def test_an_illegal_step_is_refused_with_a_message_and_changes_nothing(
    app: Flask, client, start: str, to: str, fields: dict[str, str]
):
    slug = draft(app)
    with app.app_context():
        get(app, slug).status = PetitionStatus(start)
        db.session.commit()
    sign_in(app, client, Role.ADMIN)
    response = step(client, slug, to, **fields)
    assert response.status_code == 422
    assert 'id="to-error"' in response.text
    with app.app_context():
        assert get(app, slug).status is PetitionStatus(start)
        assert db.session.execute(select(func.count(PetitionStatusChange.id))).scalar_one() == 0


def test_reopening_after_the_closing_date_asks_to_move_it_first(app: Flask, client):
    slug = draft(app, closes_at=utcnow() - timedelta(days=1))
    with app.app_context():
        get(app, slug).status = PetitionStatus.CLOSED
        db.session.commit()
    sign_in(app, client, Role.ADMIN)
    response = step(client, slug, "open")
    assert "Sa date de clôture est passée" in text_of(response)


def test_organisers_write_petitions_but_do_not_take_steps(app: Flask, client):
    slug = draft(app)
    me = sign_in(app, client, Role.ORGANISER)
    page = client.get(f"/console/petitions/{slug}").text
    assert "Seul un administrateur" in page and "Ouvrir aux signatures" not in page
    response = client.post(
        f"/console/petitions/{slug}/etape", data={"to": "open", "csrf_token": me.csrf(client)}
    )
    assert response.status_code == 403
    with app.app_context():
        assert get(app, slug).status is PetitionStatus.DRAFT


def test_rally_organisers_get_nothing(app: Flask, client):
    slug = draft(app)
    with app.app_context():
        member = make_member(make_collective()).id
        db.session.commit()
    sign_in(app, client, Role.RALLY_ORGANISER, organisation_id=member)
    for path in (
        "/console/petitions",
        NEW,
        f"/console/petitions/{slug}",
        f"/console/petitions/{slug}/modifier",
    ):
        assert client.get(path).status_code == 403, path


def test_signing_opens_and_closes_by_itself_at_the_dates(app: Flask, client, outbox):
    later = draft(app, opens_at=utcnow() + timedelta(days=2))
    ended = draft(app, closes_at=utcnow() - timedelta(minutes=1))
    sign_in(app, client, Role.ADMIN)
    step(client, later, "open")
    step(client, ended, "open")  # refused: its closing date is past
    visitor = app.test_client()
    assert "Ouverture des signatures le" in text_of(visitor.get(f"/petitions/{later}"))
    assert visitor.post(f"/petitions/{later}", data=SIGN_FORM).status_code == 409
    with app.app_context():
        get(app, later).opens_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        from campaign.petition import services

        services.forget_cached()  # (the page cache it empties is the app's)
    assert sign_through_form(visitor, later).status_code == 303
    with app.app_context():
        assert get(app, ended).status is PetitionStatus.DRAFT


# --- closed pages -----------------------------------------------------------------------------


def test_a_closed_petition_keeps_its_page_with_the_final_count_and_refuses_a_post(
    app: Flask, client, outbox
):
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    visitor = app.test_client()
    sign_through_form(visitor, slug)
    visitor.get(path_of(confirmation_link(outbox[-1])))
    started = drawn_at(visitor.get(f"/petitions/{slug}").text)  # a tab left open
    sign_in(app, client, Role.ADMIN)
    step(client, slug, "closed")
    page = visitor.get(f"/petitions/{slug}")
    assert page.status_code == 200
    assert "Pétition close le" in text_of(page) and "1 signature au total" in text_of(page)
    assert 'name="first_name"' not in page.text
    response = visitor.post(
        f"/petitions/{slug}",
        data={
            "started": started,
            "first_name": "Lou",
            "last_name": "Durand",
            "email": "lou@example.org",
            "country": "FR",
            "postcode": "75011",
            "consent": "y",
        },
    )
    assert response.status_code == 409
    assert "Cette pétition est close" in text_of(response)
    with app.app_context():
        assert db.session.execute(select(func.count(Signature.id))).scalar_one() == 1


def test_the_home_page_lists_open_petitions_first_then_closed_ones(app: Flask, client):
    with app.app_context():
        collective = make_collective()
        closed = make_petition(collective, slug="deja-close", status=PetitionStatus.CLOSED)
        closed.title = "La pétition close"
        opened = make_petition(collective, slug="ouverte")
        opened.title = "La pétition ouverte"
        make_petition(collective, slug="brouillon", status=PetitionStatus.DRAFT)
        db.session.commit()
    page = text_of(client.get("/"))
    assert page.index("La pétition ouverte") < page.index("La pétition close")
    assert "/petitions/brouillon" not in page


# --- the lock and the versions ----------------------------------------------------------------


def signed_petition(app: Flask, client: FlaskClient, outbox) -> str:  # type: ignore[no-untyped-def]
    with app.app_context():
        slug = make_petition().slug
        db.session.commit()
    sign_through_form(app.test_client(), slug)
    return slug


def edit(client: FlaskClient, slug: str, **fields: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/console/petitions/{slug}/modifier")
    with client.application.app_context():
        petition = get(client.application, slug)
        values = petition_fields(
            [d.id for d in petition.demands],
            title=petition.title,
            addressee=petition.addressee,
            summary=petition.summary,
            text=petition.text,
            target=str(petition.target),
        )
    return client.post(
        f"/console/petitions/{slug}/modifier",
        data={**values, "reason": "", **fields, "csrf_token": csrf_from(page.text)},
    )


def test_a_signed_text_changes_only_with_a_reason_as_a_new_version(app: Flask, client, outbox):
    slug = signed_petition(app, client, outbox)
    sign_in(app, client, Role.ORGANISER)
    refused = edit(client, slug, text="Un autre texte.")
    assert refused.status_code == 422
    assert "dites pourquoi le texte change" in field_error(refused, "reason")
    with app.app_context():
        assert get(app, slug).text.startswith("Premier paragraphe")
        assert get(app, slug).version == 1
    assert edit(client, slug, text="Un autre texte.", reason="Coquille corrigée").status_code == 303
    with app.app_context():
        petition = get(app, slug)
        assert petition.version == 2 and petition.text == "Un autre texte."
        versions = {v.number: (v.text, v.reason) for v in petition.versions}
        assert versions[1][0].startswith("Premier paragraphe")
        assert versions[2] == ("Un autre texte.", "Coquille corrigée")
    page = text_of(client.get(f"/petitions/{slug}"))
    assert "Texte modifié le" in page and ": Coquille corrigée" in page
    old = client.get(f"/petitions/{slug}/versions/1")
    assert old.status_code == 200 and "Premier paragraphe" in text_of(old)
    assert client.get(f"/petitions/{slug}/versions/3").status_code == 404
    # A new signature records the text it was made on.
    sign_through_form(app.test_client(), slug, email="deuxieme@example.org")
    with app.app_context():
        rows = db.session.execute(
            select(Signature.email, Signature.petition_version).order_by(Signature.id)
        ).all()
        assert [v for _, v in rows] == [1, 2]


def test_what_signers_did_not_sign_is_edited_in_place(app: Flask, client, outbox):
    slug = signed_petition(app, client, outbox)
    sign_in(app, client, Role.ORGANISER)
    assert edit(client, slug, target="2 000", call_to_action="Signez !").status_code == 303
    with app.app_context():
        petition = get(app, slug)
        assert (petition.target, petition.version) == (2000, 1)
        assert db.session.execute(select(func.count(PetitionVersion.id))).scalar_one() == 0


def test_reordering_the_demands_of_a_signed_petition_is_a_correction(app: Flask, client, outbox):
    slug = signed_petition(app, client, outbox)
    sign_in(app, client, Role.ORGANISER)
    with app.app_context():
        ids = [d.id for d in get(app, slug).demands]
    response = edit(client, slug, demands=[str(i) for i in reversed(ids)])
    assert response.status_code == 422
    assert (
        edit(client, slug, demands=[str(i) for i in reversed(ids)], reason="Ordre").status_code
        == 303
    )
    with app.app_context():
        petition = get(app, slug)
        assert [d.id for d in petition.demands] == list(reversed(ids))
        assert petition.versions[0].demands[0]["title"] == "Revendication 1"


# --- relayed petitions ------------------------------------------------------------------------

OFFICIAL = "https://petitions.assemblee-nationale.fr/initiatives/i-1234"


def relayed(app: Flask) -> tuple[str, str]:
    with app.app_context():
        petition = make_petition()
        petition.official_url = OFFICIAL
        code = make_member(petition.collective).referral_code
        db.session.commit()
        return petition.slug, code


def test_a_relayed_petition_sends_signers_to_the_official_site_counting_them(app: Flask, client):
    slug, code = relayed(app)
    page = client.get(f"/petitions/{slug}?org={code}")
    text = text_of(page)
    assert "Signer sur le site officiel" in text and 'name="first_name"' not in page.text
    response = client.get(f"/petitions/{slug}/signer-officiel?source=tract&org={code}")
    assert response.status_code == 302 and response.headers["Location"] == OFFICIAL
    client.get(f"/petitions/{slug}/signer-officiel?source=%00%00")
    with app.app_context():
        clicks = db.session.execute(select(RelayClick.source, RelayClick.organisation_id)).all()
        assert len(clicks) == 2
        assert clicks[0][0] == "tract" and clicks[0][1] is not None  # the member, by its code
        assert clicks[1] == (None, None)


def test_a_post_to_a_relayed_petition_saves_nothing(app: Flask, client):
    slug, _ = relayed(app)
    response = client.post(f"/petitions/{slug}", data=SIGN_FORM)
    assert response.status_code == 409
    assert "se signe sur le site officiel" in text_of(response)
    with app.app_context():
        assert db.session.execute(select(func.count(Signature.id))).scalar_one() == 0


def test_organisers_enter_the_official_count_by_hand_and_it_is_shown_dated(app: Flask, client):
    slug, _ = relayed(app)
    me = sign_in(app, client, Role.ORGANISER)
    bad = client.post(
        f"/console/petitions/{slug}/decompte-officiel",
        data={"count": "beaucoup", "counted_on": "01/12/2026", "csrf_token": me.csrf(client)},
    )
    assert bad.status_code == 422 and "Indiquez un nombre entier" in field_error(bad, "count")
    future = client.post(
        f"/console/petitions/{slug}/decompte-officiel",
        data={"count": "12", "counted_on": "01/01/2099", "csrf_token": me.csrf(client)},
    )
    assert "demain" in field_error(future, "counted_on")
    ok = client.post(
        f"/console/petitions/{slug}/decompte-officiel",
        data={"count": "12 345", "counted_on": "01/12/2026", "csrf_token": me.csrf(client)},
    )
    assert ok.status_code == 303
    page = text_of(client.get(f"/petitions/{slug}"))
    assert "12 345 signatures sur le site officiel au mardi 1 décembre 2026" in page


def test_a_relayed_petitions_kit_qr_code_goes_through_the_counting_redirect(app: Flask, client):
    from campaign.kits.documents import petition_qr_url

    slug, _ = relayed(app)
    with app.test_request_context():
        url = petition_qr_url(get(app, slug))
    assert f"/petitions/{slug}/signer-officiel?source=qr-tract-appel" in url


def test_editing_a_demand_a_signed_petition_carries_makes_a_new_version(app: Flask, client, outbox):
    slug = signed_petition(app, client, outbox)
    with app.app_context():
        demand_id = get(app, slug).demands[0].id
    me = sign_in(app, client, Role.ADMIN)
    path = f"/console/collectif/revendications/{demand_id}"
    fields = {
        "title": "Revendication 1",
        "text": "Un texte *précisé*.",
        "csrf_token": me.csrf(client),
    }
    refused = client.post(path, data=fields)
    assert refused.status_code == 422
    assert "dites pourquoi elle change" in field_error(refused, "reason")
    with app.app_context():
        assert get(app, slug).version == 1
        assert get(app, slug).demands[0].text == "Texte de la revendication 1."
    done = client.post(path, data={**fields, "reason": "Précision demandée par les membres"})
    assert "nouvelle version du texte" in flashed(client, done)
    with app.app_context():
        petition = get(app, slug)
        assert petition.version == 2
        assert petition.versions[0].demands[0]["text"] == "Texte de la revendication 1."
        assert petition.versions[1].reason == "Précision demandée par les membres"
    page = text_of(client.get(f"/petitions/{slug}"))
    assert "Précision demandée par les membres" in page
    assert "Texte de la revendication 1." in text_of(client.get(f"/petitions/{slug}/versions/1"))


def test_the_console_counts_visitors_sent_per_source_organisation_and_rally(app: Flask, client):
    slug, code = relayed(app)
    with app.app_context():
        from tests.factories import make_day, make_rally

        rally = make_rally(make_day(get(app, slug).collective))
        rally_id, city = rally.id, rally.city
        db.session.commit()
    visitor = app.test_client()
    for query in (f"source=tract&org={code}", f"rassemblement={rally_id}", "source=tract"):
        visitor.get(f"/petitions/{slug}/signer-officiel?{query}")
    with app.app_context():
        member = db.session.execute(
            select(Organisation.name).where(Organisation.referral_code == code)
        ).scalar_one()
    sign_in(app, client, Role.ORGANISER)
    html = raw_text_of(client.get(f"/console/petitions/{slug}"))
    assert "Ce site y a envoyé <strong>3</strong> visiteurs" in html
    row = '<tr><td>{}</td><td class="num">{}</td></tr>'
    assert row.format("tract", 2) in html and row.format("(sans source)", 1) in html
    assert row.format(member, 1) in html and row.format("(aucune)", 2) in html
    assert re.search(rf"<td>{city} \(\d\d/\d\d/\d{{4}}\)</td><td class=\"num\">1</td>", html)
