"""The small Markdown subset organisers write in: paragraphs, **bold**, *italic*, lists and
links, nothing else.

markdown-it-py parses with only those rules on and raw HTML off (typed HTML shows as text);
nh3 then keeps only the elements those rules make, and links to http(s) and mailto only,
so no script, style or handler can reach a page, an email or a PDF whatever is typed.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

from campaign.core.templating import french_spacing

_PARSER = MarkdownIt("zero", {"html": False, "breaks": True}).enable(
    ["emphasis", "list", "link", "newline"]
)
_TAGS = {"p", "strong", "em", "ul", "ol", "li", "a", "br"}
_BLOCK_END = re.compile(r"</p>|<br\s*/?>|</li>")


@lru_cache(maxsize=2048)  # a few dozen texts, rendered on every page that shows them
def render(text: str | None) -> Markup:
    """The text as safe HTML, with French spacing before : ; ! ? and inside « »."""
    if not text:
        return Markup("")
    raw = _PARSER.render(french_spacing(text.replace("\r\n", "\n")))
    clean = nh3.clean(
        raw,
        tags=_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow",
    )
    return Markup(clean.strip())  # noqa: S704  # nosec B704  # nh3 kept only _TAGS


@lru_cache(maxsize=2048)
def plain(text: str | None) -> str:
    """The same text without its markup (emails' text part, descriptions, OG tags)."""
    if not text:
        return ""
    lines = _BLOCK_END.sub("\n", str(render(text)))
    stripped = html.unescape(nh3.clean(lines, tags=set()))
    return re.sub(r"\n{2,}", "\n\n", stripped).strip()
