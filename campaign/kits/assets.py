"""Where the kit's templates, print CSS and fonts live (kits/ at the top of the repo)."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from campaign.config import ROOT

KITS = ROOT / "kits"
TEMPLATES = KITS / "templates"
FONTS = KITS / "fonts"


@lru_cache(maxsize=1)
def design_version() -> str:
    """A digest of every template, stylesheet and font: a new design renders anew."""
    digest = hashlib.sha256()
    for path in sorted(p for p in KITS.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(KITS)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
