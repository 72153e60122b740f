"""Public open data: counts per département and per day, no personal data (to be built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("opendata", __name__)
