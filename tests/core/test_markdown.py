"""The Markdown subset (campaign/core/markdown.py): bold, italic, lists, links and paragraphs
render; typed HTML, dangerous links, headings and images stay text; and the pages that
show organisers' texts never let raw HTML through."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from flask import Flask
from markupsafe import Markup

from campaign.core.markdown import plain, render
from campaign.extensions import db
from campaign.kits import render as kit_render
from campaign.petition.models import PetitionVersion
from tests.factories import make_collective, make_day, make_petition

ALLOWED = {"p", "strong", "em", "ul", "ol", "li", "a", "br"}
ALLOWED_ATTRIBUTES = {"a": {"href", "rel"}, "ol": {"start"}}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    return parser.found


def assert_only_the_subset(markup: str) -> None:
    """Every element is one the subset makes, with only its own attributes, and no link
    goes anywhere but http(s) or mailto."""
    for tag, attrs in elements(markup):
        assert tag in ALLOWED, (tag, markup)
        assert set(attrs) <= ALLOWED_ATTRIBUTES.get(tag, set()), (tag, attrs, markup)
        if tag == "a":
            assert (attrs["href"] or "").startswith(("http://", "https://", "mailto:")), markup
            assert attrs["rel"] == "noopener nofollow", markup
    lowered = markup.lower()
    for element in ("<script", "<style", "<iframe", "<img", "<svg"):
        assert element not in lowered, markup
    # Inside a real tag (typed HTML shown as text may hold these words, escaped).
    assert not re.search(r"<a\s[^>]*href=[\"']?\s*(javascript|data|vbscript)", lowered), markup
    for attribute in ("onerror=", "onload=", "onclick=", "onmouseover=", "style=", "src="):
        assert not re.search(rf"<[a-z][^>]*\s{attribute}", lowered), (attribute, markup)


# --- what renders -----------------------------------------------------------------------


def test_bold_and_italic():
    out = render("Un **accueil** digne et *rapide*")
    assert isinstance(out, Markup)
    assert out == "<p>Un <strong>accueil</strong> digne et <em>rapide</em></p>"
    assert render("__fort__ et _doux_") == "<p><strong>fort</strong> et <em>doux</em></p>"


def test_bullet_and_numbered_lists():
    bullets = render("- premier point\n- second point")
    assert elements(bullets) == [("ul", {}), ("li", {}), ("li", {})]
    assert "<li>premier point</li>" in bullets and "<li>second point</li>" in bullets
    numbered = render("1. un\n2. deux")
    assert [tag for tag, _ in elements(numbered)] == ["ol", "li", "li"]
    assert "<li>un</li>" in numbered and "<li>deux</li>" in numbered
    later = render("3. trois\n4. quatre")
    assert elements(later)[0] == ("ol", {"start": "3"})


def test_links_get_rel_noopener_nofollow():
    for url in ("https://example.org/page?a=1", "http://example.org", "mailto:contact@ex.org"):
        out = render(f"Voir [le site]({url})")
        assert elements(out)[1] == ("a", {"href": url, "rel": "noopener nofollow"})
        assert ">le site</a>" in out
    # A title is dropped: only href and rel.
    titled = render('[x](https://example.org "un titre")')
    assert "title=" not in titled and 'href="https://example.org"' in titled


def test_paragraphs_and_line_breaks():
    out = render("Premier paragraphe.\n\nSecond paragraphe.\nSur deux lignes.")
    assert out.count("<p>") == 2
    assert "<p>Premier paragraphe.</p>" in out
    assert "Second paragraphe.<br>" in out
    assert render("Windows\r\n\r\nparagraphes").count("<p>") == 2


def test_every_allowed_construct_at_once_stays_in_the_subset():
    out = render("Intro **gras** *italique*\n\n- un\n- deux\n\n1. trois\n\n[lien](https://ex.org)")
    assert {tag for tag, _ in elements(out)} == ALLOWED - {"br"}
    assert_only_the_subset(out)


# --- what never renders -----------------------------------------------------------------

RAW_HTML = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">clic</a>',
    '<a href="https://ex.org" onclick="alert(1)">clic</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body { display: none }</style>",
    "<svg onload=alert(1)></svg>",
    '<p style="color:red" onmouseover="alert(1)">texte</p>',
    "<b>gras</b> <i>italique</i>",
    "<!-- commentaire --><script>alert(1)</script>",
    "Du texte\n\n<div>\n<script>alert(1)</script>\n</div>\n\nsuite",
    "- point <script>alert(1)</script>\n- **gras** <img src=x onerror=alert(1)>",
]


@pytest.mark.parametrize("typed", RAW_HTML)
def test_raw_html_is_shown_as_text_never_as_elements(typed):
    out = render(typed)
    assert_only_the_subset(out)
    assert "&lt;" in out  # what was typed is shown, escaped


DANGEROUS_LINKS = [
    "[clic](javascript:alert(1))",
    "[clic](JaVaScRiPt:alert(1))",
    "[clic](  javascript:alert(1))",
    "[clic](&#106;avascript:alert(1))",
    "[clic](javascript&#58;alert(1))",
    "[clic](java%73cript:alert(1))",
    "[clic](vbscript:msgbox(1))",
    "[clic](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[clic](DATA:text/html,<script>alert(1)</script>)",
    "[clic](file:///etc/passwd)",
    "[clic](//evil.example/x)",
    "[clic](/console)",
    "<javascript:alert(1)>",
    "<data:text/html,x>",
    "[clic][1]\n\n[1]: javascript:alert(1)",
    '[clic](https://ex.org" onmouseover="alert(1))',
    "[clic](https://ex.org'onmouseover='alert(1))",
]


@pytest.mark.parametrize("typed", DANGEROUS_LINKS)
def test_links_to_javascript_data_or_elsewhere_stay_text(typed):
    out = render(typed)
    assert_only_the_subset(out)
    for tag, attrs in elements(out):
        if tag == "a":  # the quote tricks may make a link: to https://ex.org, href and rel only
            assert (attrs["href"] or "").startswith("https://ex.org"), out
            assert set(attrs) == {"href", "rel"}, out


def test_an_autolink_to_a_web_address_is_a_link():
    out = render("<https://example.org>")
    assert elements(out)[1] == ("a", {"href": "https://example.org", "rel": "noopener nofollow"})


@pytest.mark.parametrize(
    "typed",
    [
        "# Un titre",
        "### Un petit titre",
        "Titre souligné\n==============",
        "Sous-titre\n----------",
    ],
)
def test_headings_stay_plain_text(typed):
    out = render(typed)
    assert not re.search(r"<h\d", out)
    assert_only_the_subset(out)
    assert "titre" in out.lower()


@pytest.mark.parametrize(
    "typed",
    [
        "![une image](https://example.org/image.png)",
        "![x](javascript:alert(1))",
        '![x](https://example.org/i.png "titre")',
        "Voir ![logo](https://example.org/logo.png) ici",
    ],
)
def test_images_stay_plain_text(typed):
    out = render(typed)
    assert "<img" not in out and "src=" not in out
    assert "<a" not in out  # not even turned into a link by the link rule
    assert "![" in out
    assert_only_the_subset(out)


def test_other_markdown_stays_text():
    for typed in ("`code`", "```\nbloc\n```", "> citation", "| a | b |\n|---|---|\n| 1 | 2 |"):
        out = render(typed)
        assert_only_the_subset(out)
        assert not re.search(r"<(code|pre|blockquote|table|td|th)", out)


# --- French spacing ---------------------------------------------------------------------


def test_french_spacing_before_colon_and_inside_quotes():
    out = render("Attention : ici ; là ! Vraiment ? « oui »")
    text = html.unescape(str(out))
    assert "Attention\u00a0: ici" in text
    assert "ici\u202f; là" in text
    assert "là\u202f! Vraiment\u202f?" in text
    assert "«\u00a0oui\u00a0»" in text
    assert " :" not in text and " ;" not in text and " !" not in text and " ?" not in text
    assert plain("Attention : ici") == "Attention\u00a0: ici"


def test_french_spacing_inside_bold_and_lists_and_not_in_addresses():
    out = html.unescape(str(render("**Important :** ceci\n\n- un : deux")))
    assert "<strong>Important\u00a0:</strong>" in out
    assert "<li>un\u00a0: deux</li>" in out
    link = render("[le site](https://example.org:8443/a?b=c)")
    assert 'href="https://example.org:8443/a?b=c"' in link


# --- plain text -------------------------------------------------------------------------


def test_plain_has_no_tags_and_no_asterisks():
    text = plain(
        "Un **accueil** digne et *rapide*\n\n- premier point\n- second point\n\n"
        "1. un\n2. deux\n\nVoir [le site](https://example.org)."
    )
    assert "<" not in text and ">" not in text
    assert "*" not in text
    assert "accueil" in text and "rapide" in text
    assert "premier point" in text and "second point" in text
    assert "le site" in text and "https://example.org" in text
    assert "&" not in text  # no entity left over


def test_plain_keeps_typed_html_as_text_for_the_template_to_escape():
    text = plain("**fort** <script>alert(1)</script>")
    assert "*" not in text and "fort" in text
    assert isinstance(text, str) and not isinstance(text, Markup)  # Jinja escapes it


@pytest.mark.parametrize("empty", ["", None])
def test_empty_gives_empty(empty):
    assert render(empty) == "" and isinstance(render(empty), Markup)
    assert plain(empty) == ""


# --- the filters ------------------------------------------------------------------------


def test_the_filters_are_registered_on_the_site_and_the_kit(app: Flask):
    assert app.jinja_env.filters["markdown"] is render
    assert app.jinja_env.filters["markdown_text"] is plain
    assert kit_render._env.filters["markdown"] is render
    with app.app_context():
        page = app.jinja_env.from_string("{{ t|markdown }}|{{ t|markdown_text }}").render(
            t="**fort** <script>alert(1)</script>"
        )
    rendered, text = page.split("|")
    assert "<strong>fort</strong>" in rendered and "&lt;script&gt;" in rendered
    assert "<script" not in page and "&lt;script&gt;" in text
    kit = kit_render._env.from_string("{{ t|markdown }}").render(t="**fort** <img src=x>")
    assert "<strong>fort</strong>" in kit and "<img" not in kit


# --- the pages --------------------------------------------------------------------------

TYPED = "Un collectif **fort**.\n\n<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def assert_markdown_on_page(page: str) -> None:
    assert "<strong>fort</strong>" in page
    assert ESCAPED in page
    assert "<script>alert(1)" not in page
    assert "**fort**" not in page


def test_the_home_page_renders_the_presentation_and_the_demands(app: Flask, client):
    with app.app_context():
        collective = make_collective()
        collective.presentation = TYPED
        collective.demands[0].text = "Une demande *claire* <img src=x onerror=alert(1)>"
        db.session.commit()
    page = client.get("/").text
    assert_markdown_on_page(page)
    assert "<em>claire</em>" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not re.search(r"<img[^>]*onerror", page)


def test_the_petition_page_renders_its_text_summary_and_demands(app: Flask, client):
    with app.app_context():
        petition = make_petition()
        petition.text = TYPED
        petition.summary = "Un **résumé** <script>alert(2)</script>"
        petition.demands[0].text = "- premier point\n- [lien](javascript:alert(3))"
        db.session.commit()
        slug = petition.slug
    answer = client.get(f"/petitions/{slug}")
    assert answer.status_code == 200
    page = answer.text
    assert_markdown_on_page(page)
    assert "<li>premier point</li>" in page
    assert 'href="javascript' not in page
    # The description and og:description: plain text, escaped, without asterisks.
    og = re.search(r'<meta property="og:description" content="([^"]*)">', page)
    assert og, "no og:description"
    assert og.group(1) == "Un résumé &lt;script&gt;alert(2)&lt;/script&gt;"
    assert "<script>alert(2)" not in page


def test_an_earlier_version_of_a_petition_renders_the_same_way(app: Flask, client):
    with app.app_context():
        petition = make_petition()
        petition.version = 2
        petition.versions = [
            PetitionVersion(
                number=1,
                title=petition.title,
                text=TYPED,
                demands=[{"title": "Ancienne", "text": "*avant* <iframe src=x></iframe>"}],
            ),
            PetitionVersion(number=2, title=petition.title, text=petition.text, reason="Coquille"),
        ]
        db.session.commit()
        slug = petition.slug
    answer = client.get(f"/petitions/{slug}/versions/1")
    assert answer.status_code == 200
    page = answer.text
    assert_markdown_on_page(page)
    assert "<em>avant</em>" in page and "<iframe" not in page


def test_a_day_page_renders_its_presentation(app: Flask, client):
    with app.app_context():
        day = make_day()
        day.presentation = TYPED
        db.session.commit()
        slug = day.slug
    answer = client.get(f"/mobilisations/{slug}")
    assert answer.status_code == 200
    assert_markdown_on_page(answer.text)
