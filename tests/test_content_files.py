"""Content as files: `flask content dump` and `flask content load` (campaign/content/files.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, func, select

from campaign.content.files import ContentError, dump_text, load_text
from campaign.content.models import Collective, Demand, KeyFigure
from campaign.content.services import DATA_DIR, DEMO_FILE, current_collective
from campaign.extensions import db
from campaign.petition.models import (
    OfficialCount,
    Petition,
    PetitionDemand,
    PetitionStatus,
    PetitionStatusChange,
    PetitionVersion,
    Signature,
)
from campaign.rallies.models import MobilisationDay, Rally
from tests.factories import make_member

TABLES = [
    Collective,
    Demand,
    KeyFigure,
    Petition,
    PetitionVersion,
    PetitionStatusChange,
    OfficialCount,
    MobilisationDay,
    Rally,
]


def _counts() -> dict[str, int]:
    return {
        t.__name__: db.session.execute(select(func.count()).select_from(t)).scalar() for t in TABLES
    }


def _rich_content(with_member: bool = False) -> str:
    """The demo, plus what the console adds over a campaign's life: a corrected petition with
    its history, a relayed one with an official count, a cancelled day, a detailed rally."""
    load_text(DEMO_FILE.read_text(encoding="utf-8"))
    collective = current_collective()
    collective.short_name = "400 000"
    collective.contact_email = "contact@example.org"
    collective.social_links = [{"label": "Mastodon", "url": "https://mastodon.example/@c"}]
    collective.brand_colour = "#1d4ed8"
    petition = db.session.execute(select(Petition)).scalar_one()
    petition.versions = [
        PetitionVersion(
            number=1,
            title=petition.title,
            text=petition.text,
            demands=[{"title": d.title, "text": d.text} for d in petition.demands],
            created_at=datetime(2025, 3, 1, 9, tzinfo=UTC),
        ),
        PetitionVersion(
            number=2,
            title=petition.title,
            text=petition.text + "\n\nAjout.",
            reason="Une coquille",
            created_by="Camille",
            created_at=datetime(2025, 3, 2, 9, tzinfo=UTC),
        ),
    ]
    petition.text += "\n\nAjout."
    petition.version = 2
    petition.status_changes = [
        PetitionStatusChange(
            from_status="draft",
            to_status="open",
            by="Camille",
            at=datetime(2025, 3, 1, 8, tzinfo=UTC),
        ),
    ]
    relayed = Petition(
        collective=collective,
        slug="relayee",
        title="Relayée",
        addressee="L’Assemblée",
        text="Texte.",
        status=PetitionStatus.CLOSED,
        official_url="https://example.org/p/1",
        handed_over_on=date(2025, 6, 1),
        handover_note="Remise à l’Assemblée le 1er juin",
        opens_at=datetime(2025, 1, 1, 8, tzinfo=UTC),
        closes_at=datetime(2025, 5, 1, 8, tzinfo=UTC),
    )
    relayed.demands = [collective.demands[2], collective.demands[0]]  # its own order
    db.session.add(relayed)
    db.session.add(
        OfficialCount(
            petition=relayed,
            count=1234,
            counted_on=date(2025, 4, 2),
            added_by="Camille",
            note="relevé",
        )
    )
    day = db.session.execute(
        select(MobilisationDay).where(MobilisationDay.slug == "15-mai-2025")
    ).scalar_one()
    lyon = next(r for r in day.rallies if r.city == "Lyon")
    lyon.venue, lyon.start_time, lyon.end_time = "Place Bellecour", time(14, 30), time(17)
    lyon.capacity, lyon.accessibility = 300, "Accessible en fauteuil"
    if with_member:  # members are not content: only their names are in the file
        lyon.organisations = [make_member(collective, name="Association lyonnaise")]
    other = db.session.execute(
        select(MobilisationDay).where(MobilisationDay.slug == "25-septembre-2024")
    ).scalar_one()
    other.cancelled_at, other.cancel_reason = datetime(2024, 9, 1, 10, tzinfo=UTC), "Reportée"
    db.session.flush()
    return dump_text(collective)


def _empty_content() -> None:
    db.session.flush()
    for table in (
        Rally,
        MobilisationDay,
        OfficialCount,
        PetitionStatusChange,
        PetitionVersion,
        PetitionDemand,
        Petition,
        KeyFigure,
        Demand,
        Collective,
    ):
        db.session.execute(delete(table))
    db.session.expunge_all()


def test_dump_then_load_on_an_empty_database_then_dump_gives_the_same_file(app: Flask, ctx):
    first = _rich_content()
    assert "[[petitions.versions]]" in first and "official_url" in first
    _empty_content()
    assert _counts()["Collective"] == 0
    load_text(first)
    assert dump_text(current_collective()) == first
    relayed = db.session.execute(select(Petition).where(Petition.slug == "relayee")).scalar_one()
    assert [d.position for d in relayed.demands] == [3, 1]


def test_loading_twice_is_idempotent_by_slug(app: Flask, ctx):
    source = _rich_content(with_member=True)
    assert (
        'organisations = [\n    "Association lyonnaise' in source
        or 'organisations = ["Association lyonnaise' in source
    )
    load_text(source)
    before = _counts()
    load_text(source)
    assert _counts() == before
    assert dump_text(current_collective()) == source


def test_the_demo_and_the_relayed_example_load(app: Flask, ctx):
    load_text((DATA_DIR / "defense-des-enfants.toml").read_text(encoding="utf-8"))
    petition = db.session.execute(select(Petition)).scalar_one()
    assert petition.is_relayed and len(petition.demands) == 3
    assert petition.official_url == "https://petitions.assemblee-nationale.fr"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("target = 100000", 'target = "beaucoup"'), "petitions[0].target (line "),
        (('status = "open"', 'status = "ouverte"'), "petitions[0].status (line "),
        (('slug = "quatre-urgences"', 'slug = "Quatre Urgences"'), "petitions[0].slug (line "),
        (("demands = [1, 2, 3, 4]", "demands = [1, 9]"), "petitions[0].demands (line "),
        (('date = "2025-05-15"', 'date = "le 15 mai"'), "mobilisation_days[1].date (line "),
        (('"Strasbourg", ', '"Atlantis", '), "mobilisation_days[1].cities"),
        (
            ('website = "https://les400000.org"', 'website = "les400000"'),
            "collective.website (line ",
        ),
        (('name = "Les 400 000"\n', 'name = ""\n'), "collective.name (line "),
        (("[collective]", "[collectif]"), "no [collective] table"),
        (("target = 100000", "target = "), "not valid TOML"),
    ],
)
def test_an_invalid_file_is_refused_naming_the_field_and_nothing_changes(
    app: Flask, ctx, change, expected
):
    load_text(DEMO_FILE.read_text(encoding="utf-8"))
    db.session.commit()
    before = _counts()
    source = DEMO_FILE.read_text(encoding="utf-8")
    assert change[0] in source
    with pytest.raises(ContentError) as refused:
        load_text(source.replace(change[0], change[1], 1))
    db.session.rollback()
    assert any(expected in p for p in refused.value.problems), refused.value.problems
    assert _counts() == before
    assert current_collective().name == "Les 400 000"


def test_the_line_given_is_the_fields_line(app: Flask, ctx):
    source = DEMO_FILE.read_text(encoding="utf-8").replace("target = 100000", "target = -5")
    with pytest.raises(ContentError) as refused:
        load_text(source)
    (problem,) = refused.value.problems
    line = int(problem.split("(line ")[1].split(")")[0])
    assert source.splitlines()[line - 1].startswith("target = -5")


def test_a_signed_petitions_text_changes_only_as_a_new_version(app: Flask, ctx):
    source = DEMO_FILE.read_text(encoding="utf-8")
    load_text(source)
    petition = db.session.execute(select(Petition)).scalar_one()
    db.session.add(
        Signature(
            petition=petition,
            first_name="A",
            last_name="B",
            email="a@example.org",
            email_canonical="a@example.org",
            consent_version="v1",
            token_nonce="n" * 32,
            token_hash="h" * 64,
            token_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
    )
    db.session.commit()
    edited = source.replace("quatre urgences :", "quatre urgences (corrigé) :")
    with pytest.raises(ContentError, match="locked"):
        load_text(edited)
    db.session.rollback()
    corrected = edited.replace('status = "open"', 'status = "open"\nversion = 2', 1).replace(
        "[[mobilisation_days]]",
        "[[petitions.versions]]\nnumber = 2\n"
        'title = "Protection de l’enfance : les quatre urgences"\n'
        'text = "Texte corrigé."\nreason = "Une précision"\n\n[[mobilisation_days]]',
        1,
    )
    load_text(corrected)
    db.session.commit()
    assert petition.version == 2 and "(corrigé)" in petition.text


def test_the_cli_loads_and_dumps(app: Flask, tmp_path: Path):
    runner = app.test_cli_runner()
    loaded = runner.invoke(args=["content", "load", str(DEMO_FILE)])
    assert loaded.exit_code == 0 and "4 demands" in loaded.output
    out = tmp_path / "dump.toml"
    assert runner.invoke(args=["content", "dump", str(out)]).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(out.read_text(encoding="utf-8").replace("target = 100000", "target = -1"))
    refused = runner.invoke(args=["content", "load", str(bad)])
    assert refused.exit_code != 0 and "nothing changed" in refused.output
    assert "petitions[0].target" in refused.output


def test_the_documented_example_loads(app: Flask, ctx):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "content-format.md").read_text("utf-8")
    example = doc.split("## A complete example")[1].split("```toml")[1].split("```")[0]
    load_text(example)
    petition = db.session.execute(select(Petition)).scalar_one()
    assert [d.title for d in petition.demands] == [
        "Deuxième revendication",
        "Première revendication",
    ]
    assert petition.version == 2 and len(petition.versions) == 2
    rallies = db.session.execute(select(Rally).order_by(Rally.city)).scalars().all()
    assert [(r.city, r.commune_insee) for r in rallies] == [
        ("Lyon", "69123"),
        ("Saint-Denis", "93066"),
    ]
