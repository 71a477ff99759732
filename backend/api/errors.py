"""One place that turns exceptions into the JSON error shape ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from backend.errors import Overloaded, VitrineError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    """The JSON error body with its status."""
    return jsonify({"error": {"code": code, "message": message}}), status


def register_error_handlers(app: Flask) -> None:
    """Map our exceptions, HTTP errors and anything unexpected to JSON errors."""

    @app.errorhandler(VitrineError)
    def vitrine_error(exc: VitrineError) -> tuple[Response, int]:
        if isinstance(exc, Overloaded):
            log.warning("%s: %s", exc.code, exc.message)  # load, not a fault
        elif exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        response, status = error_response(exc.status, exc.code, exc.message)
        if isinstance(exc, Overloaded):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(exc.code or 500, code, exc.description or exc.name)
        for name, value in exc.get_headers():  # e.g. the Allow of a 405
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")
