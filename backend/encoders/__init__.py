"""Encoders: text and images in, L2-normalised float32 vectors out, chosen by name.

``registry`` maps settings strings to loaded encoders (cached per process); ``text`` wraps
sentence-transformers; ``efficientnet`` and ``openclip`` build image networks that ``image``
runs eagerly or through ``onnx_export``'s ONNX Runtime fast path, all fed by ``preprocess``.
Nothing heavy is imported or loaded until an encoder is first asked for.
"""

from backend.encoders.base import ImageEncoder, TextEncoder
from backend.encoders.registry import (
    EncoderInfo,
    encoders_from_settings,
    image_encoder,
    known_encoders,
    text_encoder,
)

__all__ = [
    "EncoderInfo",
    "ImageEncoder",
    "TextEncoder",
    "encoders_from_settings",
    "image_encoder",
    "known_encoders",
    "text_encoder",
]
