"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import format_date, format_decimal, format_percent, get_locale

from campaign.core import markdown
from campaign.core.text import french_spacing
from campaign.core.urls import public_url_for

PARIS = ZoneInfo("Europe/Paris")


def thousands(value: int) -> str:
    """400000 -> "400 000" in French (the current locale decides the separator)."""
    return format_decimal(value)


def long_date(value: date) -> str:
    """« jeudi 15 mai 2025 »."""
    return format_date(value, "EEEE d MMMM y")


def clock(value: time) -> str:
    """« 14 h 30 », « 14 h »: French clock times."""
    return (
        f"{value.hour}\u00a0h\u00a0{value.minute:02d}" if value.minute else f"{value.hour}\u00a0h"
    )


def paris_datetime(value: datetime) -> str:
    """A UTC moment as Paris reads it: « 15 mai 2026 à 18 h »."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(PARIS)
    return f"{format_date(local.date(), 'd MMMM y')} à {clock(local.time())}"


def progress(count: int, target: int) -> float:
    """Share of the target reached, between 0 and 1 (the bar stops full at the target)."""
    return min(count / target, 1.0) if target > 0 else 0.0


def init_app(app: Flask) -> None:
    app.jinja_env.filters["thousands"] = thousands
    app.jinja_env.filters["fr"] = french_spacing
    app.jinja_env.filters["percent"] = format_percent
    app.jinja_env.filters["fr_date"] = long_date
    app.jinja_env.filters["fr_time"] = clock
    app.jinja_env.filters["fr_datetime"] = paris_datetime
    app.jinja_env.filters["markdown"] = markdown.render
    app.jinja_env.filters["markdown_text"] = markdown.plain
    app.jinja_env.globals["progress"] = progress
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["public_url_for"] = public_url_for
