"""The HTTP API described as OpenAPI 3.0, served at ``/api/openapi.json``.

Written here rather than inferred from the routes, but from the same constants the routes
check their parameters against (``backend.search.params``), so a parameter the spec names is
one a route accepts and the other way round. ``tests/api/test_fuzz.py`` runs schemathesis
against this document: every request it generates must get an answer the document
describes, never a 500.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from flask import Blueprint

from backend.api.search import MAX_QUERY_CHARS
from backend.catalog.models import JOB_STATES
from backend.index.port import FUSIONS
from backend.search.params import FILTER_PARAMS, MAX_LIMIT, MAX_OFFSET, MODES, PAGE_PARAMS
from backend.search.signals import SIGNALS

bp = Blueprint("openapi", __name__)

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref("Error")}}}


def _json(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PARAMETERS: dict[str, Schema] = {
    "category": {
        "description": "Any of these categories (repeat the parameter)",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    "brand": {
        "description": "Any of these brands (repeat the parameter)",
        "schema": {"type": "array", "items": {"type": "string"}},
        "style": "form",
        "explode": True,
    },
    "price_min": {"schema": {"type": "number", "minimum": 0}},
    "price_max": {"schema": {"type": "number", "minimum": 0}},
    "in_stock": {"schema": {"type": "boolean"}},
    "limit": {"schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}},
    "offset": {"schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}},
    "mode": {"schema": {"type": "string", "enum": list(MODES)}},
    "fusion": {"schema": {"type": "string", "enum": list(FUSIONS)}},
    "weights": {
        "description": f"name:weight pairs, names among {', '.join(SIGNALS)}",
        "schema": {"type": "string", "example": "keywords:2,text:1"},
    },
    "diversity": {"schema": {"type": "number", "minimum": 0, "maximum": 1}},
    "facets": {"schema": {"type": "boolean"}},
    "using": {"schema": {"type": "string", "enum": ["text", "image", "fused"]}},
}


def _query(*names: str) -> list[Schema]:
    return [{"name": n, "in": "query", **_PARAMETERS[n]} for n in sorted(names)]


def _form(*names: str) -> dict[str, Schema]:
    return {n: _PARAMETERS[n]["schema"] for n in sorted(names)}


def _multipart(
    files: list[str], fields: dict[str, Schema], *, optional_files: list[str] | None = None
) -> Schema:
    """A multipart body: the required ``files``, any ``optional_files`` and form ``fields``."""
    binary = {"type": "string", "format": "binary"}
    properties = {name: binary for name in [*files, *(optional_files or [])]}
    schema = {"type": "object", "required": files, "properties": {**properties, **fields}}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


_RESULTS = ("fusion", "weights", "diversity", "facets", *FILTER_PARAMS, *PAGE_PARAMS)
_SKU_PATH = {"name": "sku", "in": "path", "required": True, "schema": {"type": "string"}}
_JOB_PATH = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TOKEN_PATH = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_ADMIN: list[dict[str, list[str]]] = [{"token": []}]

_SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Product": {
        "type": "object",
        "required": ["sku", "title", "currency", "in_stock", "images"],
        "properties": {
            "sku": {"type": "string"},
            "title": {"type": "string"},
            "titles": {"type": "object", "additionalProperties": {"type": "string"}},
            "description": {"type": "string", "nullable": True},
            "category": {"type": "string", "nullable": True},
            "brand": {"type": "string", "nullable": True},
            "price": {"type": "number", "nullable": True},
            "currency": {"type": "string"},
            "in_stock": {"type": "boolean"},
            "stock": {"type": "integer", "nullable": True},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "attributes": {"type": "object"},
            "source_id": {"type": "string", "nullable": True},
            "images": {"type": "array", "items": {"type": "string"}},
        },
    },
    "SearchAnswer": {
        "type": "object",
        "required": ["results", "query"],
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sku", "title", "score", "product"],
                    "properties": {
                        "sku": {"type": "string"},
                        "title": {"type": "string"},
                        "score": {"type": "number"},
                        "product": _ref("Product"),
                        "explain": {"type": "object"},
                    },
                },
            },
            "facets": {"type": "object"},
            "query": {"type": "object"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "products", "indexed"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "products": {"type": "integer"},
            "indexed": {"type": "integer"},
            "points": {"type": "integer"},
            "pending": {"type": "integer"},
            "index_version": {"type": "string", "nullable": True},
            "loading": {"type": "boolean"},
            "repairing": {"type": "boolean"},
            "problems": {"type": "array", "items": {"type": "string"}},
            "index_error": {"type": "string"},
            "index_error_code": {"type": "string"},
            "fusion_head": {"type": "object"},
        },
    },
    "Job": {
        "type": "object",
        "required": ["job_id", "state", "counts", "errors"],
        "properties": {
            "job_id": {"type": "string"},
            "state": {"type": "string", "enum": list(JOB_STATES)},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "errors": {"type": "array", "items": {"type": "object"}},
            "message": {"type": "string", "nullable": True},
        },
    },
}


def _search_responses(*, not_found: bool = False) -> dict[str, Schema]:
    responses = {
        "200": _json("Ranked products", _ref("SearchAnswer")),
        "400": _error("A parameter is missing, unknown or out of range"),
        "503": _error("The vector index cannot answer (down, locked, lost or corrupt)"),
    }
    if not_found:
        responses["404"] = _error("No product with that sku")
    return responses


def _admin_responses(ok: Schema, *extra: tuple[str, str]) -> dict[str, Schema]:
    responses = {
        **ok,
        "401": _error("No admin token, or an unknown one"),
        "403": _error("A revoked admin token"),
    }
    responses.update({status: _error(why) for status, why in extra})
    return responses


_PATHS: dict[str, Schema] = {
    "/health": {
        "get": {
            "summary": "How the catalog and the index compare",
            "responses": {
                "200": _json("Search answers (ok, or degraded with problems)", _ref("Health")),
                "503": _json("The index cannot answer", _ref("Health")),
            },
        }
    },
    "/api/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _json("OpenAPI 3.0", {"type": "object"})},
        }
    },
    "/api/products": {
        "get": {
            "summary": "Catalog listing, ordered by sku",
            "parameters": _query("category", "brand", *PAGE_PARAMS),
            "responses": {
                "200": _json(
                    "A page of products",
                    {
                        "type": "object",
                        "required": ["products", "total"],
                        "properties": {
                            "products": {"type": "array", "items": _ref("Product")},
                            "total": {"type": "integer"},
                            "limit": {"type": "integer"},
                            "offset": {"type": "integer"},
                        },
                    },
                ),
                "400": _error("A parameter is unknown or out of range"),
            },
        }
    },
    "/api/products/{sku}": {
        "get": {
            "summary": "One product",
            "parameters": [_SKU_PATH],
            "responses": {
                "200": _json("The product", _ref("Product")),
                "400": _error("The sku is not UTF-8 text"),
                "404": _error("No product with that sku"),
            },
        }
    },
    "/api/products/{sku}/similar": {
        "get": {
            "summary": "More like this product (never itself)",
            "parameters": [_SKU_PATH, *_query("using", *_RESULTS)],
            "responses": _search_responses(not_found=True),
        }
    },
    "/api/search": {
        "get": {
            "summary": "Search by words, filtered in the engine",
            "parameters": [
                {
                    "name": "q",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS},
                },
                *_query("mode", *_RESULTS),
            ],
            "responses": _search_responses(),
        }
    },
    "/api/search/image": {
        "post": {
            "summary": "Search by a picture",
            "requestBody": _multipart(["image"], _form("mode", *_RESULTS)),
            "responses": {
                **_search_responses(),
                "413": _error("The picture is over the size or pixel limit"),
            },
        }
    },
    "/api/recommend": {
        "post": {
            "summary": "Products like the positive examples and unlike the negative ones",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["positive"],
                            "additionalProperties": False,
                            "properties": {
                                "positive": {"type": "array", "items": {"type": "string"}},
                                "negative": {"type": "array", "items": {"type": "string"}},
                                "filters": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        n: _PARAMETERS[n]["schema"] for n in sorted(FILTER_PARAMS)
                                    },
                                },
                                **_form("diversity", "facets", *PAGE_PARAMS),
                            },
                        }
                    }
                },
            },
            "responses": _search_responses(not_found=True),
        }
    },
    "/media/{name}": {
        "get": {
            "summary": "A stored product picture",
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "The picture", "content": {"image/*": {}}},
                "400": _error("The name is not UTF-8 text"),
                "404": _error("No such picture"),
            },
        }
    },
    "/api/admin/session": {
        "get": {
            "summary": "The admin token a request signs in with",
            "security": _ADMIN,
            "responses": _admin_responses({"200": _json("Its name", {"type": "object"})}),
        }
    },
    "/api/admin/uploads": {
        "get": {
            "summary": "The newest upload jobs first, without their rejected rows",
            "security": _ADMIN,
            "parameters": _query("limit"),
            "responses": _admin_responses(
                {"200": _json("The jobs", {"type": "object"})},
                ("400", "A limit out of range, or an unknown parameter"),
            ),
        },
        "post": {
            "summary": "Upload a catalog (CSV or JSONL) and its pictures (zip) to load",
            "security": _ADMIN,
            "requestBody": _multipart(["catalog"], {}, optional_files=["images"]),
            "responses": _admin_responses(
                {"202": _json("The job that loads it", {"type": "object"})},
                ("400", "No catalog, or a zip entry that escapes its folder"),
                ("413", "Over the upload or zip limits"),
                ("415", "Not multipart, or a catalog that is not UTF-8 CSV/JSONL"),
                ("507", "Too little free disk"),
            ),
        },
    },
    "/api/admin/uploads/{job_id}": {
        "get": {
            "summary": "An upload job: state, counts and rejected rows",
            "security": _ADMIN,
            "parameters": [_JOB_PATH],
            "responses": _admin_responses(
                {"200": _json("The job", _ref("Job"))}, ("404", "No such job")
            ),
        }
    },
    "/api/admin/uploads/{job_id}/cancel": {
        "post": {
            "summary": "Cancel a queued or running job (it stops before its next batch)",
            "security": _ADMIN,
            "parameters": [_JOB_PATH],
            "responses": _admin_responses(
                {"200": _json("The job", _ref("Job"))},
                ("404", "No such job"),
                ("409", "The job has ended already"),
            ),
        }
    },
    "/api/admin/uploads/{job_id}/resume": {
        "post": {
            "summary": "Queue a cancelled job again, after the rows it had handled",
            "security": _ADMIN,
            "parameters": [_JOB_PATH],
            "responses": _admin_responses(
                {"202": _json("The job", _ref("Job"))},
                ("404", "No such job"),
                ("409", "The job was not cancelled, or its files are gone"),
            ),
        }
    },
    "/api/admin/reconcile": {
        "post": {
            "summary": "Compare the catalog with the index (dry run) or repair what differs",
            "security": _ADMIN,
            "parameters": [{"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}],
            "responses": _admin_responses(
                {"200": _json("What differs (and was repaired)", {"type": "object"})},
                ("400", "dry_run is not true or false, or an unknown parameter"),
                ("409", "A job is running, or this server does not run jobs"),
                ("503", "The index cannot answer"),
            ),
        }
    },
    "/api/admin/tokens": {
        "get": {
            "summary": "Admin tokens (never their secrets)",
            "security": _ADMIN,
            "responses": _admin_responses({"200": _json("The tokens", {"type": "object"})}),
        },
        "post": {
            "summary": "Create a token; its secret is in the answer only",
            "security": _ADMIN,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": {"type": "string", "minLength": 1}},
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": _admin_responses(
                {"201": _json("The new token and its secret", {"type": "object"})},
                ("400", "No name, a name too long, or not JSON"),
                ("409", "A token with that name exists already"),
            ),
        },
    },
    "/api/admin/tokens/{name}": {
        "delete": {
            "summary": "Revoke a token (it answers 403 from then on)",
            "security": _ADMIN,
            "parameters": [_TOKEN_PATH],
            "responses": _admin_responses(
                {"200": _json("The revoked token", {"type": "object"})},
                ("404", "No token with that name"),
            ),
        }
    },
    "/api/admin/uploads/{job_id}/errors.csv": {
        "get": {
            "summary": "A job's rejected rows as CSV, safe to open in a spreadsheet",
            "security": _ADMIN,
            "parameters": [_JOB_PATH],
            "responses": _admin_responses(
                {"200": {"description": "line, sku, reason", "content": {"text/csv": {}}}},
                ("404", "No such job"),
            ),
        }
    },
    "/api/admin/products/{sku}": {
        "delete": {
            "summary": "Remove a product from the catalog and the index",
            "security": _ADMIN,
            "parameters": [_SKU_PATH],
            "responses": _admin_responses(
                {"200": _json("What was removed", {"type": "object"})},
                ("404", "No product with that sku"),
            ),
        }
    },
    "/api/admin/index": {
        "get": {
            "summary": "The collection: vectors, encoders, points, payload indexes, pending",
            "security": _ADMIN,
            "responses": _admin_responses(
                {"200": _json("The collection", {"type": "object"})},
                ("503", "The index cannot answer"),
            ),
        }
    },
    "/api/admin/index/points": {
        "get": {
            "summary": "Points in id order, a page at a time, narrowed by the filters",
            "security": _ADMIN,
            "parameters": [
                *_query("limit", *FILTER_PARAMS),
                {"name": "after", "in": "query", "schema": {"type": "string", "format": "uuid"}},
            ],
            "responses": _admin_responses(
                {"200": _json("A page of points and the next one's start", {"type": "object"})},
                ("400", "A filter or after that is not valid"),
                ("503", "The index cannot answer"),
            ),
        }
    },
    "/api/admin/index/points/{sku}": {
        "get": {
            "summary": "A product's point: payload, vector sizes and norms, currency",
            "security": _ADMIN,
            "parameters": [_SKU_PATH],
            "responses": _admin_responses(
                {"200": _json("The point", {"type": "object"})},
                ("404", "Neither a product nor a point with that sku"),
                ("503", "The index cannot answer"),
            ),
        }
    },
}


def spec() -> Schema:
    """The OpenAPI document."""
    errors = {
        "400": _error("The path or query string is not UTF-8 text"),
        "405": _error("The method is not allowed here"),
    }
    paths = {
        path: {
            method: {**operation, "responses": {**errors, **operation["responses"]}}
            for method, operation in item.items()
        }
        for path, item in _PATHS.items()
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Vitrine product search", "version": version("vitrine")},
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "token": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `vitrine admin create-token NAME`",
                }
            },
        },
    }


@bp.get("/api/openapi.json")
def openapi() -> Schema:
    """The OpenAPI document of this API."""
    return spec()
