"""Flask wiring of the encoders: loaded once per process by name, shared by every request."""

from __future__ import annotations

from flask import Flask, current_app

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.registry import encoders_from_settings

EXTENSION = "vitrine_encoders"


def init_app(app: Flask) -> None:
    """Load the configured text and image encoders (cached per process) onto the app."""
    app.extensions[EXTENSION] = encoders_from_settings(app.config["VITRINE_SETTINGS"])


def get_encoders_of(app: Flask) -> tuple[TextEncoder, ImageEncoder]:
    """An app's (text, image) encoders."""
    encoders: tuple[TextEncoder, ImageEncoder] = app.extensions[EXTENSION]
    return encoders


def get_encoders() -> tuple[TextEncoder, ImageEncoder]:
    """The current app's (text, image) encoders."""
    return get_encoders_of(current_app)
