"""Reading the collective, and loading its content from a data file."""

from __future__ import annotations

from pathlib import Path

from flask import abort, g
from sqlalchemy import func, select

from campaign.content.models import Collective
from campaign.extensions import db

DATA_DIR = Path(__file__).parent / "data"
DEMO_FILE = DATA_DIR / "les-400000.toml"


def current_collective() -> Collective | None:
    """The deployment's collective (one per site), looked up once per request or job: a
    page or a mail asks for it several times (its brand, its name, its links)."""
    cached = g.get("_collective")
    if cached is not None and cached in db.session:  # still this session's, not deleted
        return cached
    collective = db.session.execute(select(Collective).order_by(Collective.id).limit(1)).scalar()
    if collective is not None:
        g._collective = collective
    return collective


def collective_or_404() -> Collective:
    """The collective, for a page that needs one (a fresh site has none yet)."""
    collective = current_collective()
    if collective is None:
        abort(404)
    return collective


def is_empty() -> bool:
    return db.session.execute(select(func.count(Collective.id))).scalar_one() == 0


def load_content(path: Path = DEMO_FILE) -> Collective:
    """Create or update the collective and its content from a TOML file (content/files.py)."""
    from campaign.content.files import load_text

    return load_text(path.read_text(encoding="utf-8"))
