"""The signing service: pending signatures, confirmation links, duplicates, closing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from campaign.core.db import utcnow
from campaign.core.outbox import OutboxMessage
from campaign.extensions import db
from campaign.petition import counting, services
from campaign.petition.models import PetitionStatus, Signature
from campaign.petition.services import (
    MAX_EMAILS,
    ConfirmStatus,
    Notice,
    PetitionClosedError,
    SignatureInput,
)
from tests.conftest import PUBLIC_URL
from tests.factories import confirmation_link, make_petition, path_of


def _input(email: str = "jeanne.dupont@example.org", **kwargs: object) -> SignatureInput:
    values: dict = {"first_name": "Jeanne", "last_name": "Dupont", "email": email}
    values.update(kwargs)
    return SignatureInput(**values)


def _sign(petition, data=None) -> None:  # type: ignore[no-untyped-def]
    services.sign(petition, data or _input())
    db.session.commit()


def _token(message) -> str:  # type: ignore[no-untyped-def]
    return path_of(confirmation_link(message)).rsplit("/", 1)[1]


def _signatures() -> list[Signature]:
    return list(db.session.execute(select(Signature)).scalars())


def test_signing_stores_a_pending_signature_and_mails_a_link(ctx, outbox):
    petition = make_petition()
    _sign(petition, _input(postcode="75011", source="qr-flyer-lyon"))

    [signature] = _signatures()
    assert signature.confirmed_at is None
    assert signature.departement == "75"
    assert signature.source == "qr-flyer-lyon"
    assert signature.consent_version
    assert counting.count(petition) == 0

    [message] = outbox
    assert message.recipients == ["jeanne.dupont@example.org"]
    assert "Confirmez votre signature" in message.subject
    link = confirmation_link(message)
    assert link.startswith(PUBLIC_URL + "/signature/confirmer/")
    assert link in message.html
    # At least 128 random bits: the token is a 256-bit HMAC, base64url (43 characters).
    assert len(_token(message)) >= 22
    # The database keeps only a hash of the token, never the link itself.
    assert _token(message) not in (signature.token_hash, signature.token_nonce)


def test_confirming_counts_once_whatever_the_number_of_clicks(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    token = _token(outbox[0])

    first = services.confirm(token)
    db.session.commit()
    again = services.confirm(token)
    db.session.commit()

    assert first.status is ConfirmStatus.CONFIRMED
    assert again.status is ConfirmStatus.ALREADY
    assert counting.count(petition) == 1


def test_unknown_and_malformed_tokens_are_unknown(ctx):
    make_petition()
    for token in ["", "nope", "x" * 43, "x" * 5000]:
        assert services.confirm(token).status is ConfirmStatus.UNKNOWN


def test_an_expired_link_does_not_confirm(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    later = utcnow() + timedelta(days=30)
    result = services.confirm(_token(outbox[0]), now=later)
    assert result.status is ConfirmStatus.EXPIRED
    assert counting.count(petition) == 0


def test_same_mailbox_twice_creates_one_row_and_resends_the_same_link(ctx, outbox):
    petition = make_petition()
    _sign(petition, _input("Jeanne.Dupont+petition@gmail.com"))
    _sign(petition, _input("jeannedupont@googlemail.com"))

    assert len(_signatures()) == 1
    assert len(outbox) == 2
    assert confirmation_link(outbox[0]) == confirmation_link(outbox[1])


def test_a_confirmed_signer_gets_an_already_signed_email(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    services.confirm(_token(outbox[0]))
    db.session.commit()

    _sign(petition, _input("JEANNE.DUPONT@example.org"))

    assert len(outbox) == 2
    assert "déjà signé" in outbox[-1].subject
    assert "/signature/confirmer/" not in outbox[-1].body
    assert counting.count(petition) == 1


def test_emails_about_one_signature_are_capped(ctx, outbox):
    petition = make_petition()
    for _ in range(MAX_EMAILS + 3):
        _sign(petition)
    assert len(outbox) == MAX_EMAILS
    assert len(_signatures()) == 1


def test_other_providers_keep_dots_and_tags_apart(ctx, outbox):
    petition = make_petition()
    _sign(petition, _input("jean.dupont@orange.fr"))
    _sign(petition, _input("jeandupont@orange.fr"))
    assert len(_signatures()) == 2
    assert len(outbox) == 2


def test_the_same_person_may_sign_two_petitions(ctx, outbox):
    collective_petition = make_petition()
    other = make_petition(collective_petition.collective)
    _sign(collective_petition)
    _sign(other)
    assert len(_signatures()) == 2
    assert len(outbox) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": PetitionStatus.CLOSED},
        {"status": PetitionStatus.DRAFT},
        {"closes_at": utcnow() - timedelta(minutes=1)},
        {"opens_at": utcnow() + timedelta(days=1)},
    ],
)
def test_a_petition_not_open_refuses_signatures(ctx, outbox, kwargs):
    petition = make_petition(**kwargs)
    with pytest.raises(PetitionClosedError):
        services.sign(petition, _input())
    db.session.rollback()
    assert db.session.execute(select(func.count(Signature.id))).scalar_one() == 0
    assert outbox == []


def test_a_link_confirmed_after_closing_does_not_count(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    petition.status = PetitionStatus.CLOSED
    db.session.commit()
    assert services.confirm(_token(outbox[0])).status is ConfirmStatus.CLOSED
    assert counting.count(petition) == 0


def test_resend_reaches_only_addresses_that_signed(ctx, outbox):
    petition = make_petition()
    services.resend(petition, "stranger@example.org")
    db.session.commit()
    assert outbox == []
    _sign(petition)
    services.resend(petition, "Jeanne.Dupont@example.org")
    db.session.commit()
    assert len(outbox) == 2
    assert confirmation_link(outbox[0]) == confirmation_link(outbox[1])


def test_no_mail_leaves_when_the_transaction_rolls_back(ctx, outbox):
    petition = make_petition()
    db.session.commit()
    services.sign(petition, _input())
    db.session.rollback()
    db.session.commit()
    assert outbox == []


def test_a_pending_signature_past_its_emails_gets_a_fresh_link_once_expired(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    for _ in range(MAX_EMAILS):
        services.resend(petition, "jeanne.dupont@example.org")
        db.session.commit()
    assert len(outbox) == MAX_EMAILS  # the allowance is used up
    assert services.resend(petition, "jeanne.dupont@example.org") is services.Resend.TOO_MANY
    # Three days later: the link has expired, and so have the requests that used it up.
    three_days_ago = utcnow() - timedelta(hours=73)
    db.session.execute(update(Signature).values(token_expires_at=utcnow() - timedelta(hours=1)))
    db.session.execute(update(OutboxMessage).values(created_at=three_days_ago))
    db.session.commit()

    assert services.resend(petition, "jeanne.dupont@example.org") is services.Resend.RECORDED
    db.session.commit()

    assert len(outbox) == MAX_EMAILS + 1
    assert services.confirm(_token(outbox[-1])).status is ConfirmStatus.CONFIRMED


def test_resend_mails_nothing_once_the_petition_has_closed(ctx, outbox):
    petition = make_petition()
    _sign(petition)
    petition.status = PetitionStatus.CLOSED
    db.session.commit()
    services.resend(petition, "jeanne.dupont@example.org")
    db.session.commit()
    assert len(outbox) == 1


def test_the_worker_decides_what_each_mailbox_receives(ctx, outbox):
    petition = make_petition()
    db.session.commit()
    assert services.notice(petition.id, "nobody@example.org")[0] is Notice.NONE
    _sign(petition)
    assert services.notice(petition.id, "jeanne.dupont@example.org")[0] is Notice.CONFIRMATION
    services.confirm(_token(outbox[0]))
    db.session.commit()
    assert services.notice(petition.id, "jeanne.dupont@example.org")[0] is Notice.ALREADY_SIGNED
