"""deploy/backup.sh and deploy/restore.sh: a backup restored into an empty database holds
the same signatures and counts as the live one."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from campaign.extensions import db
from campaign.petition import counting, services
from campaign.petition.models import Signature
from tests.deploy.topology import DEPLOY
from tests.factories import make_petition

pytestmark = pytest.mark.postgres_only

FIGURES = text(
    "SELECT p.slug, count(s.id), count(s.confirmed_at), p.signature_count, p.paper_count "
    "FROM petitions p LEFT JOIN signatures s ON s.petition_id = p.id "
    "GROUP BY p.id ORDER BY p.slug"
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def empty_database(database_url: str):  # type: ignore[no-untyped-def]
    base = make_url(database_url)
    name = f"{base.database}_restored_{secrets.token_hex(4)}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_backup_restored_into_an_empty_database_has_the_same_counts(
    app: Flask, database_url: str, empty_database: str, tmp_path: Path
):
    with app.app_context():
        petitions = [make_petition(slug="sauvegarde-a"), make_petition(slug="sauvegarde-b")]
        petitions[1].paper_count = 120
        for n in range(30):
            petition = petitions[n % 2]
            signature = Signature(
                petition=petition,
                first_name="Nom",
                last_name=f"N{n}",
                email=f"s{n}@example.org",
                email_canonical=f"s{n}@example.org",
                country="FR",
                postcode="29200",
                consent_version="v1",
                source="direct",
                token_nonce=f"nonce{n}",
                token_hash=f"hash{n}",
                token_expires_at=services.utcnow(),
                petition_version=1,
            )
            db.session.add(signature)
            if n % 3:
                signature.confirmed_at = services.utcnow()
                db.session.flush()
                counting.record_change(petition.id, +1)
        db.session.commit()
        counting.rollup()  # half folded into the totals, half left in the ledger
        db.session.commit()
        live = db.session.execute(FIGURES).all()
        public = counting.counts([p.id for p in petitions])
    env = {**os.environ, "DATABASE_URL": database_url, "BACKUP_DIR": str(tmp_path)}
    backup = subprocess.run(
        ["bash", str(DEPLOY / "backup.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert backup.returncode == 0, backup.stderr
    [dump] = tmp_path.glob("campaign-*.dump")
    assert oct(dump.stat().st_mode & 0o777) == "0o600"  # every signer's address is in it
    assert not list(tmp_path.glob(".*partial"))

    restore = subprocess.run(
        ["bash", str(DEPLOY / "restore.sh"), str(dump), empty_database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert restore.returncode == 0, restore.stderr
    assert "petition sauvegarde-a 15 10" in restore.stdout
    assert "petition sauvegarde-b 15 10" in restore.stdout

    restored = create_engine(empty_database)
    with restored.connect() as connection:
        assert connection.execute(FIGURES).all() == live
        pending = dict(
            connection.execute(
                text(
                    "SELECT p.slug, p.signature_count + p.paper_count + coalesce(sum(d.delta), 0) "
                    "FROM petitions p LEFT JOIN signature_count_deltas d ON d.petition_id = p.id "
                    "GROUP BY p.id"
                )
            ).all()
        )
    restored.dispose()
    assert pending == {p.slug: public[p.id] for p in petitions}
    assert public[petitions[1].id] == 130  # 10 confirmed online and 120 on paper

    again = subprocess.run(
        ["bash", str(DEPLOY / "restore.sh"), str(dump), empty_database],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 1
    assert "not empty" in again.stderr
