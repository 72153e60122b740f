"""Colours: #rrggbb values and WCAG 2.x contrast, pure functions.

The brand colour is the site's accent: white text sits on it (header, buttons) and it is
itself text and links on the page's background (static/css/site.css `--paper`). Both must
reach WCAG AA for body text, 4.5:1; the page background is a shade darker than white, so
checking it covers text on the white cards too.
"""

from __future__ import annotations

import math
import re

DEFAULT = "#b3261e"
WHITE = "#ffffff"
PAPER = "#fffdf8"  # static/css/site.css --paper
AA = 4.5

_HEX = re.compile(r"#?([0-9a-fA-F]{6})")


def normalise(value: str | None) -> str | None:
    """'#1F4E8C', '1f4e8c', ' #1f4e8c ' -> '#1f4e8c'; anything else -> None."""
    match = _HEX.fullmatch((value or "").strip())
    return f"#{match.group(1).lower()}" if match else None


def safe(value: str | None) -> str:
    """A colour fit to write into CSS or a style attribute: the value, or the default."""
    return normalise(value) or DEFAULT


def rgb(colour: str) -> tuple[int, int, int]:
    hexa = safe(colour)[1:]
    return int(hexa[0:2], 16), int(hexa[2:4], 16), int(hexa[4:6], 16)


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance, 0 (black) to 1 (white)."""
    r, g, b = (_linear(c) for c in rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def french_ratio(ratio: float) -> str:
    """4.48 -> '4,4:1': rounded down, so a ratio short of 4.5 never reads as 4,5."""
    return f"{math.floor(ratio * 10) / 10:.1f}".replace(".", ",") + ":1"


def brand_problem(colour: str) -> str | None:
    """Why `colour` cannot be the brand colour, in French, or None."""
    value = normalise(colour)
    if value is None:
        return "Couleur invalide : écrivez-la #rrggbb, par exemple #1f4e8c."
    needed = french_ratio(AA)
    on_white = contrast(value, WHITE)
    if on_white < AA:
        return (
            f"Contraste insuffisant : {french_ratio(on_white)} avec le texte blanc ; "
            f"il faut au moins {needed}. Choisissez une couleur plus foncée."
        )
    on_paper = contrast(value, PAPER)
    if on_paper < AA:
        return (
            f"Contraste insuffisant : {french_ratio(on_paper)} en texte sur le fond des pages ; "
            f"il faut au moins {needed}. Choisissez une couleur plus foncée."
        )
    return None
