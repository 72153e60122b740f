"""The small Markdown subset organisers write in: paragraphs (a blank line between them),
line breaks, **bold**, *italic*, bullet and numbered lists, and links; nothing else.

Why a kept library and two steps: markdown-it-py parses with only those rules on and raw
HTML off, so typed HTML, headings, images, code or tables stay the text that was typed;
nh3 then keeps only the elements those rules make, and links to http(s) and mailto only.
No script, style, handler or image can reach a page, an email or a PDF, whatever is typed.
`plain` gives the same text without markup, for emails' text parts and descriptions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markupsafe import Markup

from campaign.core.text import french_spacing

_SCHEMES = ("http://", "https://", "mailto:")
_CLEANER = nh3.Cleaner(
    tags={"p", "strong", "em", "ul", "ol", "li", "a", "br"},
    attributes={"*": set(), "a": {"href"}, "ol": {"start"}},  # "*": not even title, lang
    url_schemes={scheme.rstrip(":/") for scheme in _SCHEMES},
    url_relative="deny",
    link_rel="noopener nofollow",
)


def _image_as_text(state: StateInline, silent: bool) -> bool:
    """`![alt](src)` stays as typed: without this, the link rule would make `[alt](src)` a link."""
    if not state.src.startswith("![", state.pos):
        return False
    if not silent:
        state.pending += "!["
    state.pos += 2
    return True


def _allowed_link(url: str) -> bool:
    """Any other link ([x](javascript:…), data:, a relative path) stays the text typed."""
    return url.lower().startswith(_SCHEMES)


_PARSER = MarkdownIt("zero", {"html": False, "breaks": True}).enable(
    ["list", "emphasis", "link", "autolink", "newline", "escape"]
)
_PARSER.inline.ruler.before("link", "image_as_text", _image_as_text)
_PARSER.validateLink = _allowed_link


def _tokens(text: str) -> list[Token]:
    # French spacing on the source: the rules above never see a space before : ; ! ? »,
    # and the no-break spaces end up in text nodes only.
    return _PARSER.parse(french_spacing(text.replace("\r\n", "\n")))


@lru_cache(maxsize=1024)  # a few dozen texts, rendered on every page that shows them
def render(text: str | None) -> Markup:
    """The text as safe HTML, with French spacing before : ; ! ? and inside « »."""
    if not text:
        return Markup("")
    html = _PARSER.renderer.render(_tokens(text), _PARSER.options, {})
    return Markup(_CLEANER.clean(html).strip())  # noqa: S704  # nosec B704  # nh3 cleaned it


def _inline(children: Sequence[Token]) -> str:
    out: list[str] = []
    start, href = 0, ""
    for token in children:
        if token.type in ("text", "text_special"):
            out.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif token.type == "link_open":
            start, href = len(out), str(token.attrGet("href") or "")
        elif token.type == "link_close":
            shown = href.removeprefix("mailto:")
            if shown != "".join(out[start:]):
                out.append(f" ({shown})")
    return "".join(out)


@lru_cache(maxsize=1024)
def plain(text: str | None) -> str:
    """The same text without markup: paragraphs apart, "- " and "1. " before list items,
    a link's address after its words (emails' text parts, descriptions, OG tags)."""
    if not text:
        return ""
    out: list[str] = []
    lists: list[int | None] = []  # the next number of each open list, None when bulleted
    for token in _tokens(text):
        if token.type == "bullet_list_open":
            lists.append(None)
        elif token.type == "ordered_list_open":
            lists.append(int(token.attrGet("start") or 1))
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.append("\n")  # its last item ended its line: now a blank one
        elif token.type == "list_item_open":
            number = lists[-1]
            out.append("  " * (len(lists) - 1) + ("- " if number is None else f"{number}. "))
            if number is not None:
                lists[-1] = number + 1
        elif token.type == "paragraph_close":
            out.append("\n" if token.hidden else "\n\n")
        elif token.type == "inline":
            out.append(_inline(token.children or []))
    return re.sub(r"\n{3,}", "\n\n", "".join(out)).strip()
