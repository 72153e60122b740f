"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched.

The site's Content-Security-Policy forbids inline styles, so colours and sizes are SVG
presentation attributes. Each chart is an image with a <title> and a <desc>; the page puts
the same figures in a table beside it for screen readers and for copying.

- bar_chart(): signatures per day, one bar per calendar day from the first to the last
  (days without signatures get an empty bar, so the time axis is never distorted).
- symbol_map(): a circle per département whose area is proportional to its count, at the
  mean position of its communes (the gazetteer), metropolitan France drawn in an
  equirectangular box (longitudes shrunk by cos 46°), the overseas départements and any
  other code in a row of insets beneath it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

from markupsafe import Markup

from campaign.core.geo import DEPARTEMENTS
from campaign.core.templating import thousands
from campaign.places.gazetteer import gazetteer

ACCENT = "#b3261e"  # site.css --accent
INK = "#1a1a1a"
MUTED = "#555555"
LINE = "#ddd6c8"
REF = "#b8b1a3"  # a département without signatures


def _plural(n: int, word: str = "signature") -> str:
    return f"{thousands(n)} {word}{'s' if n > 1 else ''}"


def _fmt(value: float) -> str:
    """Coordinates with two decimals at most: short markup, sub-pixel exact enough."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- signatures per day --------------------------------------------------------------------


def fill_days(series: Sequence[tuple[date, int]]) -> list[tuple[date, int]]:
    """Every calendar day from the first to the last of `series`, 0 where it has none."""
    if not series:
        return []
    counts: dict[date, int] = defaultdict(int)
    for day, n in series:
        counts[day] += n
    first, last = min(counts), max(counts)
    return [
        (first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
        for i in range((last - first).days + 1)
    ]


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 × 10^k at least `value` (the top of the y axis)."""
    if value <= 1:
        return 1
    power = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover (the loop always returns)


def _label_indices(count: int, most: int = 8) -> set[int]:
    """Which bars get a date beneath: about `most`, evenly spaced, the first and the last."""
    if count <= 0:
        return set()
    every = max(1, math.ceil(count / most))
    chosen = list(range(0, count, every))
    if chosen[-1] != count - 1:
        if len(chosen) > 1 and count - 1 - chosen[-1] < every / 2:
            chosen[-1] = count - 1  # too close to the one before: the last day replaces it
        else:
            chosen.append(count - 1)
    return set(chosen)


def y_scale(largest: int, ticks: int = 4) -> tuple[int, int]:
    """(step, top) of the y axis: about `ticks` round steps (1, 2 or 5 × 10^k) up to a top
    at least `largest`: 5 gives (2, 6), 1234 gives (500, 1500)."""
    step = nice_ceiling(math.ceil(max(largest, 1) / ticks))
    return step, step * max(1, math.ceil(largest / step))


BAR_WIDTH, BAR_HEIGHT = 720, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 12, 30


def bar_chart(
    series: Sequence[tuple[date, int]], *, chart_id: str, title: str, desc: str = ""
) -> Markup:
    """Bars of signatures per day; `chart_id` makes the <title>/<desc> ids unique."""
    days = fill_days(series)
    total = sum(n for _, n in days)
    if not desc:
        if days:
            peak_day, peak = max(days, key=lambda d: (d[1], -d[0].toordinal()))
            desc = (
                f"Du {days[0][0]:%d/%m/%Y} au {days[-1][0]:%d/%m/%Y} : {_plural(total)} "
                f"confirmées, au plus {_plural(peak)} le {peak_day:%d/%m/%Y}."
            )
        else:
            desc = "Aucune signature confirmée pour le moment."
    width, height = BAR_WIDTH, BAR_HEIGHT
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM
    step, top = y_scale(max((n for _, n in days), default=0))
    parts = [
        Markup(
            '<svg class="chart chart-bars" xmlns="http://www.w3.org/2000/svg" role="img" '
            'viewBox="0 0 {w} {h}" width="100%" height="{h}" '
            'preserveAspectRatio="xMidYMid meet" aria-labelledby="{id}-title {id}-desc">'
            '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
        ).format(w=width, h=height, id=chart_id, title=title, desc=desc)
    ]
    # Horizontal grid lines and their values: 0, a quarter, … the top.
    for value in range(0, top + 1, step):
        y = _TOP + plot_h - plot_h * value / top
        parts.append(
            Markup(
                '<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}" stroke-width="1"/>'
                '<text x="{tx}" y="{ty}" text-anchor="end" font-size="11" fill="{m}">{v}</text>'
            ).format(
                x1=_LEFT,
                x2=width - _RIGHT,
                y=_fmt(y),
                c=LINE,
                tx=_LEFT - 6,
                ty=_fmt(y + 4),
                m=MUTED,
                v=thousands(value),
            )
        )
    if days:
        step = plot_w / len(days)
        bar_w = max(step * 0.8, 0.5) if len(days) > 1 else min(plot_w, 48)
        labelled = _label_indices(len(days))
        for i, (day, n) in enumerate(days):
            x = _LEFT + i * step + (step - bar_w) / 2
            h = plot_h * n / top
            parts.append(
                Markup(
                    '<rect class="bar" data-day="{d}" data-count="{n}" x="{x}" y="{y}" '
                    'width="{bw}" height="{h}" fill="{c}"><title>{label}</title></rect>'
                ).format(
                    d=day.isoformat(),
                    n=n,
                    x=_fmt(x),
                    y=_fmt(_TOP + plot_h - h),
                    bw=_fmt(bar_w),
                    h=_fmt(h),
                    c=ACCENT,
                    label=f"{day:%d/%m/%Y} : {_plural(n)}",
                )
            )
            if i in labelled:
                parts.append(
                    Markup(
                        '<text x="{x}" y="{y}" text-anchor="middle" font-size="11" '
                        'fill="{m}">{label}</text>'
                    ).format(
                        x=_fmt(x + bar_w / 2),
                        y=height - _BOTTOM + 16,
                        m=MUTED,
                        label=f"{day:%d/%m}",
                    )
                )
    parts.append(
        Markup(
            '<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{c}" stroke-width="1"/>'
        ).format(x1=_LEFT, x2=width - _RIGHT, y=_TOP + plot_h, c=INK)
    )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


# --- the map of départements ----------------------------------------------------------------

# Metropolitan France, Corsica included, in degrees.
LON_MIN, LON_MAX = -5.3, 9.7
LAT_MIN, LAT_MAX = 41.2, 51.2
COS_46 = math.cos(math.radians(46))
SCALE = 44.0  # pixels per degree of latitude
PAD = 16
MAX_RADIUS = 26.0
MIN_RADIUS = 1.5  # a single signature stays visible (its area is then a little too large)
INSET = 64  # the side of an overseas inset


_OVERSEAS = re.compile(r"9[78][0-9]")


def is_metropolitan(code: str) -> bool:
    return code in DEPARTEMENTS and not code.startswith("97")


@lru_cache(maxsize=1)
def departement_centres() -> dict[str, tuple[float, float]]:
    """(latitude, longitude) of each département: the mean of its communes' positions.

    Municipal arrondissements are left out so Paris, Lyon and Marseille count once.
    Computed once per process (the gazetteer is in memory already).
    """
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for commune in gazetteer().by_insee.values():
        if commune.parent:
            continue
        acc = sums[commune.departement]
        acc[0] += commune.lat
        acc[1] += commune.lon
        acc[2] += 1
    return {code: (lat / n, lon / n) for code, (lat, lon, n) in sums.items()}


def project(lat: float, lon: float) -> tuple[float, float]:
    """Equirectangular projection of metropolitan France into the map's box (pixels)."""
    x = PAD + (lon - LON_MIN) * COS_46 * SCALE
    y = PAD + (LAT_MAX - lat) * SCALE
    return x, y


MAP_WIDTH = round(2 * PAD + (LON_MAX - LON_MIN) * COS_46 * SCALE)
MAP_HEIGHT = round(2 * PAD + (LAT_MAX - LAT_MIN) * SCALE)


def radius(n: int, largest: int) -> float:
    """Area proportional to the count: the largest count gets MAX_RADIUS."""
    if n <= 0 or largest <= 0:
        return 0.0
    return max(MIN_RADIUS, MAX_RADIUS * math.sqrt(n / largest))


def _circle(code: str, n: int, x: float, y: float, r: float) -> Markup:
    label = Markup(
        '<circle class="dep" data-departement="{code}" data-count="{n}" cx="{x}" cy="{y}" '
        'r="{r}" fill="{c}" fill-opacity="0.55" stroke="{c}" stroke-width="1">'
        "<title>{title}</title></circle>"
    ).format(
        code=code,
        n=n,
        x=_fmt(x),
        y=_fmt(y),
        r=_fmt(r),
        c=ACCENT,
        title=f"{code} : {_plural(n)}",
    )
    if r >= 11:
        label += Markup(
            '<text x="{x}" y="{y}" text-anchor="middle" font-size="10" fill="{i}" '
            'aria-hidden="true">{code}</text>'
        ).format(x=_fmt(x), y=_fmt(y + 3.5), i=INK, code=code)
    return label


def symbol_map(counts: Sequence[tuple[str, int]], *, chart_id: str, title: str) -> Markup:
    """Proportional circles per département. `counts`: (code, count); a key that is no
    département (stats.UNKNOWN: abroad, no postcode) is left out: the table beside lists it."""
    centres = departement_centres()
    metro = [(code, n) for code, n in counts if n > 0 and is_metropolitan(code)]
    # Overseas: the départements always (an empty inset says « none there »), then any
    # other overseas code with signatures (collectivités: 975, 984, 986, 987, 988).
    overseas_counts = {code: n for code, n in counts if n > 0 and _OVERSEAS.fullmatch(code)}
    placed = metro + list(overseas_counts.items())
    overseas = [c for c in DEPARTEMENTS if c.startswith("97")]
    overseas += sorted(c for c in overseas_counts if c not in overseas)
    largest = max((n for _, n in placed), default=0)
    total = sum(n for _, n in placed)
    inset_row = PAD + INSET + 18
    width = max(MAP_WIDTH, 2 * PAD + len(overseas) * (INSET + 8))
    height = MAP_HEIGHT + inset_row
    if placed:
        top = sorted(placed, key=lambda r: (-r[1], r[0]))[:3]
        desc = (
            f"{_plural(total)} dans {len(placed)} département{'s' if len(placed) > 1 else ''}, "
            "un cercle par département, de surface proportionnelle au nombre de signatures. "
            "Les plus nombreuses : " + ", ".join(f"{c} ({_plural(n)})" for c, n in top) + "."
        )
    else:
        desc = "Aucune signature localisée pour le moment."
    parts = [
        Markup(
            '<svg class="chart chart-map" xmlns="http://www.w3.org/2000/svg" role="img" '
            'viewBox="0 0 {w} {h}" width="100%" height="{h}" '
            'preserveAspectRatio="xMidYMid meet" aria-labelledby="{id}-title {id}-desc">'
            '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>'
            '<rect x="0" y="0" width="{w}" height="{mh}" fill="#ffffff" stroke="{line}"/>'
        ).format(w=width, h=height, mh=MAP_HEIGHT, id=chart_id, title=title, desc=desc, line=LINE)
    ]
    # Every metropolitan département's centre as a dot: the shape of the country.
    for code in DEPARTEMENTS:
        if is_metropolitan(code) and code in centres:
            x, y = project(*centres[code])
            parts.append(
                Markup('<circle class="ref" cx="{x}" cy="{y}" r="1.8" fill="{m}"/>').format(
                    x=_fmt(x), y=_fmt(y), m=REF
                )
            )
    # Largest first, so a small département next to a big one stays visible on top.
    for code, n in sorted(metro, key=lambda r: (-r[1], r[0])):
        x, y = project(*centres[code])
        parts.append(_circle(code, n, x, y, radius(n, largest)))
    # The row of insets beneath: the same scale, each circle in the middle of its box.
    for i, code in enumerate(overseas):
        bx, by = PAD + i * (INSET + 8), MAP_HEIGHT + PAD
        parts.append(
            Markup(
                '<rect x="{x}" y="{y}" width="{s}" height="{s}" fill="#ffffff" stroke="{line}"/>'
                '<text x="{tx}" y="{ty}" text-anchor="middle" font-size="11" fill="{m}">'
                "{code}</text>"
            ).format(
                x=bx,
                y=by,
                s=INSET,
                line=LINE,
                tx=bx + INSET / 2,
                ty=by + INSET + 13,
                m=MUTED,
                code=code,
            )
        )
        if n := overseas_counts.get(code, 0):
            r = min(radius(n, largest), INSET / 2 - 2)
            parts.append(_circle(code, n, bx + INSET / 2, by + INSET / 2, r))
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
