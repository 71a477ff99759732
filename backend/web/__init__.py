"""The web pages: the shoppers' search page at ``/``, the admin console at ``/admin`` and
index inspection at ``/admin/index``. Flask renders each page's shell with Jinja; the page's
script then uses the public JSON API, so the API stays the product and the pages show what
any client would get. The admin pages ask for an admin token once per browser tab session
(kept in ``sessionStorage``, sent as a bearer header, never in a URL)."""

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


@bp.get("/admin")
def admin_page() -> str:
    """Uploads with their progress and per-row reports, cancel/resume, reconcile, tokens."""
    return render_template("admin.html")


@bp.get("/admin/index")
def index_page() -> str:
    """The vector collection: versions, vectors, payload indexes, points, consistency."""
    return render_template("index.html")
