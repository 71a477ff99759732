"""The web pages: the shoppers' search page at ``/`` (admin console and index inspection
follow). Flask renders each page's shell with Jinja; the page's script then uses the public
JSON API, so the API stays the product and the pages show what any client would get."""

from __future__ import annotations

from flask import Blueprint, render_template

from backend.search.params import MAX_LIMIT

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

PAGE_SIZE = 12
assert PAGE_SIZE <= MAX_LIMIT


@bp.get("/")
def search_page() -> str:
    """The search page: words in any language, a photo, filters, facets, more like this."""
    return render_template("search.html", page_size=PAGE_SIZE)
