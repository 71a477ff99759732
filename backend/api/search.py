"""Search routes: text/hybrid search and visual search by an uploaded picture."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from backend.api.results import run_search, search_service
from backend.errors import InvalidImage, InvalidRequest
from backend.media import decode_image
from backend.search.params import (
    RESULT_PARAMS,
    check_known,
    parse_diversity,
    parse_facets,
    parse_filters,
    parse_fusion,
    parse_mode,
    parse_page,
)
from backend.search.service import DEFAULT_IMAGE_MODE

bp = Blueprint("search", __name__, url_prefix="/api/search")

MAX_QUERY_CHARS = 512
TEXT_PARAMS = RESULT_PARAMS | {"q", "mode"}
IMAGE_FIELDS = RESULT_PARAMS | {"mode"}  # form fields beside the uploaded ``image``


@bp.get("")
def search_text() -> dict[str, Any]:
    """``GET /api/search?q=...``: products for the shopper's words, filtered in the engine."""
    check_known(request.args, TEXT_PARAMS)
    q = (request.args.get("q") or "").strip()
    if not q:
        raise InvalidRequest("q is required: the words to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidRequest(f"q is longer than {MAX_QUERY_CHARS} characters")
    mode = parse_mode(request.args)
    filters = parse_filters(request.args)
    limit, offset = parse_page(request.args)
    fusion, weights = parse_fusion(request.args)
    diversity = parse_diversity(request.args)
    service = search_service()
    plan = service.plan_text(q, mode=mode, fusion=fusion, weights=weights, diverse=diversity > 0)
    return run_search(
        service,
        plan,
        query={"q": q, "mode": mode},
        filters=filters,
        limit=limit,
        offset=offset,
        mode=mode,
        diversity=diversity,
        facets=parse_facets(request.args),
    )


@bp.post("/image")
def search_image() -> dict[str, Any]:
    """``POST /api/search/image``: multipart ``image`` (+ filters as form fields)."""
    check_known(request.form, IMAGE_FIELDS, what="form field")
    check_known(request.files, {"image"}, what="file field")
    upload = request.files.get("image")
    if upload is None or not upload.filename and not upload.content_length:
        raise InvalidImage("upload a picture in the multipart field 'image'")
    settings = current_app.config["VITRINE_SETTINGS"]
    data = upload.read(settings.max_image_bytes + 1)
    decoded = decode_image(
        data, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
    )
    mode = parse_mode(request.form, default=DEFAULT_IMAGE_MODE)
    filters = parse_filters(request.form)
    limit, offset = parse_page(request.form)
    fusion, weights = parse_fusion(request.form)
    service = search_service()
    plan = service.plan_image(decoded.image, mode=mode, fusion=fusion, weights=weights)
    return run_search(
        service,
        plan,
        query={"image": upload.filename or "image", "mode": mode},
        filters=filters,
        limit=limit,
        offset=offset,
        mode=mode,
        diversity=parse_diversity(request.form),
        facets=parse_facets(request.form),
    )
