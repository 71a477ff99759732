"""Admin routes (bearer token): catalog uploads as background jobs, their status and error
reports, product deletion, and inspection of the vector index (embedded mode has no Qdrant
dashboard)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any

import numpy as np
from flask import Blueprint, Response, current_app, g, request, url_for
from numpy.typing import NDArray

from backend.api.guards import json_body
from backend.catalog import jobs as job_queue
from backend.catalog import service as catalog
from backend.catalog import tokens
from backend.catalog.db import get_session
from backend.catalog.models import AdminToken, LoadJob
from backend.catalog.schema import FORMULA_STARTS
from backend.encoders.ext import get_encoders, get_fusion, get_multilingual
from backend.errors import (
    IndexUnavailable,
    InvalidRequest,
    JobNotFound,
    NotFound,
    PayloadTooLarge,
    ProductNotFound,
    UnsupportedMediaType,
)
from backend.index.ext import get_index
from backend.index.port import point_id
from backend.jobs import get_runner
from backend.search.params import FILTER_PARAMS, check_known, parse_filters, parse_page
from backend.storage import check_free_space
from backend.uploads import remove_upload, store_upload

bp = Blueprint("admin", __name__, url_prefix="/api/admin")


@bp.before_request
def require_admin() -> None:
    """401 without a known bearer token, 403 for a revoked one; uploads may be large."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    session = get_session()
    found = tokens.authenticate(
        session=session, token=token.strip() if scheme.lower() == "bearer" else None
    )
    g.admin_token = found.name
    session.commit()  # last_used_at
    request.max_content_length = current_app.config["VITRINE_SETTINGS"].max_upload_bytes


@bp.get("/session")
def whoami() -> dict[str, Any]:
    """The token a request signs in with (the admin console checks a token with it)."""
    return {"token": g.admin_token}


# Uploads ---------------------------------------------------------------------------------


@bp.post("/uploads")
def upload() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Multipart ``catalog`` (CSV or JSONL) and optional ``images`` (zip): 202 with a job id."""
    settings = current_app.config["VITRINE_SETTINGS"]
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType(
            "send the catalog as multipart/form-data (field 'catalog', optional 'images')"
        )
    if request.content_length is not None and request.content_length > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"the upload is {request.content_length} bytes; the limit is "
            f"{settings.max_upload_bytes} (VITRINE_MAX_UPLOAD_BYTES)"
        )
    catalog_file = request.files.get("catalog")
    if catalog_file is None or not catalog_file.filename:
        raise InvalidRequest("upload the catalog file in the multipart field 'catalog'")
    images = request.files.get("images")
    if images is not None and not images.filename:
        images = None
    check_free_space(settings, what="the upload")
    job_id = str(uuid.uuid4())
    stored = store_upload(job_id, catalog_file, images, settings=settings)
    session = get_session()
    try:
        job_queue.create_upload_job(
            session=session,
            job_id=job_id,
            source=catalog_file.filename,
            catalog_file=str(stored.catalog),
            images_file=str(stored.images) if stored.images else None,
        )
        session.commit()
    except BaseException:
        remove_upload(stored.folder)  # no job will ever read them
        raise
    get_runner().submit(job_id)
    location = url_for("admin.upload_status", job_id=job_id)
    return {"job_id": job_id, "state": "queued", "url": location}, 202, {"Location": location}


def _job_json(job: LoadJob) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "source": job.source,
        "state": job.state,
        # Rows handled of the file's rows (total: counted when the job starts).
        "progress": {"rows": job.received, "total": job.total},
        "counts": {
            "received": job.received,
            "created": job.created,
            "updated": job.updated,
            "unchanged": job.unchanged,
            "failed": job.failed,
        },
        "errors": list(job.errors),
        "message": job.message,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "errors_csv": url_for("admin.upload_errors_csv", job_id=job.id),
        "url": url_for("admin.upload_status", job_id=job.id),
    }


def _get_job(job_id: str) -> LoadJob:
    try:
        return catalog.get_job(session=get_session(), job_id=job_id)
    except NotFound:
        raise JobNotFound(job_id) from None


@bp.get("/uploads/<job_id>")
def upload_status(job_id: str) -> dict[str, Any]:
    """State, counts and the rejected rows (line, sku, reason) of an upload job."""
    return _job_json(_get_job(job_id))


JOBS_PARAMS = frozenset({"limit"})


@bp.get("/uploads")
def upload_list() -> dict[str, Any]:
    """The newest upload jobs first (``limit``, default 20), without their rejected rows."""
    check_known(request.args, JOBS_PARAMS)
    limit, _ = parse_page(request.args, default_limit=20)
    jobs = job_queue.recent_jobs(session=get_session(), limit=limit)
    return {"jobs": [{**_job_json(job), "errors": []} for job in jobs]}


@bp.post("/uploads/<job_id>/cancel")
def upload_cancel(job_id: str) -> dict[str, Any]:
    """Cancel a queued or running job (409 otherwise); a running one stops before its next
    batch, keeping the rows it stored. It can be resumed."""
    session = get_session()
    job = job_queue.cancel_job(session=session, job=_get_job(job_id))
    session.commit()
    return _job_json(job)


@bp.post("/uploads/<job_id>/resume")
def upload_resume(job_id: str) -> tuple[dict[str, Any], int]:
    """Queue a cancelled job again: it goes on after the rows it had handled (409 if it was
    not cancelled or its files are gone)."""
    session = get_session()
    job = job_queue.resume_job(session=session, job=_get_job(job_id))
    session.commit()
    get_runner().submit(job.id)
    return _job_json(job), 202


# Reconcile -------------------------------------------------------------------------------

RECONCILE_PARAMS = frozenset({"dry_run"})


@bp.post("/reconcile")
def reconcile() -> dict[str, Any]:
    """Compare the catalog with the index (``dry_run=true``, the default) or repair what
    differs (``dry_run=false``): products missing or stale in the index, orphan points."""
    check_known(request.args, RECONCILE_PARAMS)
    raw = request.args.get("dry_run", "true").strip().lower()
    if raw not in ("true", "false"):
        raise InvalidRequest(f"dry_run must be true or false, not {raw!r}")
    return get_runner().reconcile(dry_run=raw == "true")


# Tokens ----------------------------------------------------------------------------------


def _token_json(token: AdminToken) -> dict[str, Any]:
    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "name": token.name,
        "created_at": when(token.created_at),
        "last_used_at": when(token.last_used_at),
        "revoked_at": when(token.revoked_at),
        "active": not token.revoked,
        "current": token.name == g.admin_token,
    }


@bp.get("/tokens")
def token_list() -> dict[str, Any]:
    """Every admin token (never its secret), revoked ones too."""
    return {"tokens": [_token_json(t) for t in tokens.list_tokens(session=get_session())]}


@bp.post("/tokens")
def token_create() -> tuple[dict[str, Any], int]:
    """JSON ``{"name": ...}``: a new token; its secret is in this answer and nowhere else."""
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise InvalidRequest('send JSON {"name": "<a name for the token>"}')
    if set(body) - {"name"}:
        raise InvalidRequest(f"unknown fields {sorted(set(body) - {'name'})}; send only name")
    session = get_session()
    secret = tokens.create_token(session=session, name=body["name"])
    session.commit()
    return {"name": body["name"].strip(), "token": secret}, 201


@bp.delete("/tokens/<name>")
def token_revoke(name: str) -> dict[str, Any]:
    """Revoke a token: it answers 403 from now on (the console's own token included)."""
    session = get_session()
    token = tokens.revoke_token(session=session, name=name)
    session.commit()
    return _token_json(token)


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: formulas are defused with a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@bp.get("/uploads/<job_id>/errors.csv")
def upload_errors_csv(job_id: str) -> Response:
    """The rejected rows as CSV (line, sku, reason), safe to open in a spreadsheet."""
    job = _get_job(job_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["line", "sku", "reason"])
    for error in job.errors:
        writer.writerow([csv_cell(error.get(k)) for k in ("line", "sku", "reason")])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="upload-{job.id}-errors.csv"'},
    )


# Products --------------------------------------------------------------------------------


@bp.delete("/products/<sku>")
def delete_product(sku: str) -> tuple[dict[str, Any], int]:
    """Remove a product from the catalog, then its point from the index (404 if unknown).

    SQL first: if the index cannot be reached, the point left behind is an orphan that
    search never shows (hits are hydrated from the catalog) and reconcile removes.
    """
    session = get_session()
    catalog.delete_product(session=session, sku=sku)
    session.commit()
    body: dict[str, Any] = {"sku": sku, "catalog": "deleted", "index": "deleted"}
    try:
        get_index().delete([point_id(sku)])
    except IndexUnavailable as exc:
        body.update(index="pending", message=exc.message)
    return body, 200


# Index inspection ------------------------------------------------------------------------


@bp.get("/index")
def index_overview() -> dict[str, Any]:
    """Collection config, encoders, point count, payload indexes, indexed/pending products."""
    settings = current_app.config["VITRINE_SETTINGS"]
    session = get_session()
    products = catalog.count_products(session=session)
    indexed = catalog.count_indexed(session=session)
    text, image = get_encoders()
    fusion = get_fusion()
    multilingual = get_multilingual()
    index = get_index()
    info = index.info()
    details = index.details()
    collection: dict[str, Any] | None = None
    if info is not None:
        holding = index.count_vectors([*info.spec.dense, *info.spec.sparse])
        collection = {
            "version": info.version,
            "vectors": {
                name: {
                    "size": size,
                    "encoder": info.spec.encoders.get(name),
                    "distance": details.distance if details else None,
                    "points": holding[name],
                    # Several rows a point, scored by the best (MaxSim).
                    **({"multi": True} if name in info.spec.multi else {}),
                }
                for name, size in sorted(info.spec.dense.items())
            },
            "sparse_vectors": {
                name: {"points": holding[name]} for name in sorted(info.spec.sparse)
            },
            "points": info.points,
        }
    return {
        "backend": settings.index_backend,
        "collection_name": settings.collection,
        "collection": collection,
        "engine": None
        if details is None
        else {
            "engine": details.engine,
            "location": details.location,
            "segments": details.segments,
            "indexed_vectors": details.indexed_vectors,
            "payload_indexes": dict(details.payload_indexes),
            "versions": list(details.versions),
            "aliases": dict(details.aliases),
            "dashboard": _dashboard_url(settings.qdrant_url)
            if details.engine == "qdrant-server"
            else None,
        },
        "encoders": {
            "text": text.name,
            "image": image.name,
            "fused": fusion.name if fusion is not None else None,
            "multilingual": multilingual.name if multilingual is not None else None,
        },
        "catalog": {"products": products, "indexed": indexed, "pending": products - indexed},
    }


def _dashboard_url(url: str | None) -> str | None:
    """Where a Qdrant server serves its own web dashboard."""
    return None if not url else url.rstrip("/") + "/dashboard"


POINTS_PARAMS = FILTER_PARAMS | {"limit", "after"}


@bp.get("/index/points")
def index_points() -> dict[str, Any]:
    """Points in id order, a page at a time (``after``: the ``next`` of the page before),
    narrowed by the shopper filters, with their payload; ``count``: all that match."""
    check_known(request.args, POINTS_PARAMS)
    filters = parse_filters(request.args)
    limit, _ = parse_page(request.args, default_limit=20)
    after = (request.args.get("after") or "").strip() or None
    if after is not None:
        try:
            after = str(uuid.UUID(after))
        except ValueError:
            raise InvalidRequest(
                f"after must be a point id from a page's next, not {after!r}"
            ) from None
    index = get_index()
    points, following = index.page(filters=filters, limit=limit, after=after)
    return {
        "points": [{"id": p.id, "payload": dict(p.payload)} for p in points],
        "next": following,
        "count": index.count(filters),
    }


@bp.get("/index/points/<sku>")
def index_point(sku: str) -> dict[str, Any]:
    """A product's point: payload, vector sizes and norms, and whether it is current."""
    index = get_index()
    info = index.info()
    names = sorted(info.spec.dense) if info is not None else []
    found = index.retrieve([point_id(sku)], vectors=names)
    session = get_session()
    try:
        product = catalog.get_product(session=session, sku=sku)
    except ProductNotFound:
        product = None
    if not found:
        if product is None:
            raise ProductNotFound(sku)
        raise NotFound(f"product {sku!r} has no point in the index yet (pending indexing)")
    point = found[0]
    stored_hash = point.payload.get("content_hash")
    return {
        "sku": sku,
        "id": point.id,
        "payload": dict(point.payload),
        "vectors": {name: _vector_view(vector) for name, vector in sorted(point.vectors.items())},
        "missing_vectors": [name for name in names if name not in point.vectors],
        "catalog": None
        if product is None
        else {
            "content_hash": product.content_hash,
            "indexed_hash": product.indexed_hash,
            "current": product.indexed and stored_hash == product.content_hash,
        },
    }


PREVIEW = 6  # values of a vector shown by the point inspection


def _vector_view(vector: NDArray[np.float32]) -> dict[str, Any]:
    """A stored vector's size, norm and first values (``head``); a multi vector's row size,
    rows, each row's norm and its first row's first values."""
    first = vector[0] if vector.ndim == 2 else vector
    head = [round(float(x), 4) for x in first[:PREVIEW]]
    if vector.ndim == 2:
        norms = np.linalg.norm(vector, axis=1)
        return {
            "size": int(vector.shape[1]),
            "rows": int(vector.shape[0]),
            "norms": [round(float(n), 3) for n in norms],
            "head": head,
        }
    return {"size": int(vector.size), "norm": round(float(np.linalg.norm(vector)), 6), "head": head}
