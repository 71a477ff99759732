"""Never download: Hugging Face Hub access is switched off before any model is loaded.

A model that is not on disk must fail fast with a clear error, not hang on the network.
"""

from __future__ import annotations

import os
import sys


def force_offline() -> None:
    """Put huggingface_hub (and transformers through it) into offline mode."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    # huggingface_hub reads the variable once, at import; if it is already imported, tell it.
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        setattr(constants, "HF_HUB_OFFLINE", True)  # noqa: B010 - module attribute, not typed
