"""Flask wiring of the encoders: loaded once per process by name, shared by every request."""

from __future__ import annotations

from flask import Flask, current_app

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.encoders.registry import encoders_from_settings, fusion_from_settings

EXTENSION = "vitrine_encoders"
FUSION_EXTENSION = "vitrine_fusion"


def init_app(app: Flask) -> None:
    """Load the configured text and image encoders and fusion head onto the app."""
    settings = app.config["VITRINE_SETTINGS"]
    text, image = encoders_from_settings(settings)
    app.extensions[EXTENSION] = (text, image)
    app.extensions[FUSION_EXTENSION] = fusion_from_settings(settings, text, image)


def get_encoders_of(app: Flask) -> tuple[TextEncoder, ImageEncoder]:
    """An app's (text, image) encoders."""
    encoders: tuple[TextEncoder, ImageEncoder] = app.extensions[EXTENSION]
    return encoders


def get_fusion_of(app: Flask) -> FusionHead | None:
    """An app's fusion head, or None when it serves without one."""
    head: FusionHead | None = app.extensions[FUSION_EXTENSION]
    return head


def get_encoders() -> tuple[TextEncoder, ImageEncoder]:
    """The current app's (text, image) encoders."""
    return get_encoders_of(current_app)


def get_fusion() -> FusionHead | None:
    """The current app's fusion head, or None."""
    return get_fusion_of(current_app)
