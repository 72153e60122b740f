"""The console's blueprint: views.py (accounts), dashboard.py, exports.py add routes to it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console")
