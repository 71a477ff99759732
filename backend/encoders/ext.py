"""Flask wiring of the encoders: loaded once per process by name, shared by every request.

The fusion head is the one part that changes while a process serves: a head retrained on the
catalog (``loaders/head_refresh.py``) replaces it once the index holds its fused vectors.
"""

from __future__ import annotations

from flask import Flask, current_app

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.fusion import FusionHead
from backend.encoders.multilingual import MultilingualEncoder
from backend.encoders.registry import (
    dictionary_from_settings,
    encoders_from_settings,
    fusion_from_settings,
    multilingual_from_settings,
)
from backend.search.definitions import Dictionary

EXTENSION = "vitrine_encoders"
FUSION_EXTENSION = "vitrine_fusion"
DICTIONARY_EXTENSION = "vitrine_dictionary"
MULTILINGUAL_EXTENSION = "vitrine_multilingual"


def init_app(app: Flask) -> None:
    """Load the configured text, image and multilingual encoders and fusion head onto the
    app, and name the dictionary that defines product names (read when the app first
    indexes)."""
    settings = app.config["VITRINE_SETTINGS"]
    text, image = encoders_from_settings(settings)
    app.extensions[EXTENSION] = (text, image)
    app.extensions[FUSION_EXTENSION] = [fusion_from_settings(settings, text, image)]
    app.extensions[DICTIONARY_EXTENSION] = dictionary_from_settings(settings)
    app.extensions[MULTILINGUAL_EXTENSION] = multilingual_from_settings(settings)


def get_encoders_of(app: Flask) -> tuple[TextEncoder, ImageEncoder]:
    """An app's (text, image) encoders."""
    encoders: tuple[TextEncoder, ImageEncoder] = app.extensions[EXTENSION]
    return encoders


def get_fusion_of(app: Flask) -> FusionHead | None:
    """An app's fusion head, or None when it serves without one."""
    head: FusionHead | None = app.extensions[FUSION_EXTENSION][0]
    return head


def set_fusion_of(app: Flask, head: FusionHead) -> None:
    """Serve ``head`` from now on (the index already holds the fused vectors it made)."""
    app.extensions[FUSION_EXTENSION][0] = head


def get_dictionary_of(app: Flask) -> Dictionary | None:
    """An app's dictionary of product names, or None when text vectors go without."""
    dictionary: Dictionary | None = app.extensions[DICTIONARY_EXTENSION]
    return dictionary


def get_multilingual_of(app: Flask) -> MultilingualEncoder | None:
    """An app's multilingual encoder, or None when it serves without the signal."""
    encoder: MultilingualEncoder | None = app.extensions[MULTILINGUAL_EXTENSION]
    return encoder


def get_encoders() -> tuple[TextEncoder, ImageEncoder]:
    """The current app's (text, image) encoders."""
    return get_encoders_of(current_app)


def get_fusion() -> FusionHead | None:
    """The current app's fusion head, or None."""
    return get_fusion_of(current_app)


def get_multilingual() -> MultilingualEncoder | None:
    """The current app's multilingual encoder, or None."""
    return get_multilingual_of(current_app)
