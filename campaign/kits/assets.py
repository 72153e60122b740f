"""Where the kit's templates, print CSS and fonts live (kits/ at the top of the repo)."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from campaign.config import ROOT

KITS = ROOT / "kits"
TEMPLATES = KITS / "templates"
FONTS = KITS / "fonts"


@lru_cache(maxsize=1)
def design_version() -> str:
    """A digest of every template, stylesheet and font, and of the code that lays them
    out: a new design renders anew instead of serving yesterday's files."""
    digest = hashlib.sha256()
    code = Path(__file__).parent
    for path in sorted(p for p in [*KITS.rglob("*"), *code.glob("*.py")] if p.is_file()):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
