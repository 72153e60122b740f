"""The console's blueprint: views.py (accounts), dashboard.py, exports.py add routes to it.

Nothing it answers is cached (core/security.py `no_store`): its pages show personal data.
"""

from __future__ import annotations

from flask import Blueprint

from campaign.core.security import no_store

bp = Blueprint("console", __name__, url_prefix="/console")
no_store(bp)
