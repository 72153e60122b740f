"""The console's blueprint: views.py (accounts), dashboard.py, exports.py add routes to it.

Nothing it answers is cached (core/security.py `no_store`): its pages show personal data.
"""

from __future__ import annotations

from flask import Blueprint

from campaign.core.pagecache import forget_after_edits
from campaign.core.security import no_store

bp = Blueprint("console", __name__, url_prefix="/console")
no_store(bp)
forget_after_edits(bp)  # its edits show on the public pages at once
