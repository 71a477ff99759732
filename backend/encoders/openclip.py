"""Image encoders from open_clip: ``open_clip:<arch>/<pretrained tag or checkpoint file>``.

The image tower's ``encode_image`` with the model's own preprocessing (after our composite
onto white). Weights are never downloaded: a tag must already be in the Hugging Face or
open_clip cache, otherwise pass a local checkpoint (.pt, .bin, .safetensors).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.encoders.device import limit_torch_threads
from backend.encoders.image import TorchImageEncoder
from backend.encoders.offline import force_offline
from backend.encoders.preprocess import to_rgb
from backend.errors import ConfigurationError

PREFIX = "open_clip:"
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


def parse(spec: str) -> tuple[str, str]:
    """``"ViT-B-32/laion2b_s34b_b79k"`` -> ``("ViT-B-32", "laion2b_s34b_b79k")``."""
    arch, sep, pretrained = spec.partition("/")
    if not arch or not sep or not pretrained:
        raise ConfigurationError(
            f"open_clip encoder {PREFIX}{spec!s} must read {PREFIX}<arch>/<pretrained tag or "
            "checkpoint file>, e.g. open_clip:ViT-B-32/laion2b_s34b_b79k"
        )
    return arch, pretrained


def _cached_weights(cfg: dict[str, Any]) -> str | None:
    """The local file for a pretrained tag's weights, if a previous download left one."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if cfg.get("file"):
        return str(cfg["file"])
    hf_hub = str(cfg.get("hf_hub") or "")
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = os.path.split(hf_hub)
        filename = filename or HF_WEIGHTS_NAME
        candidates = [filename]
        if filename == HF_WEIGHTS_NAME:
            candidates.insert(0, HF_SAFE_WEIGHTS_NAME)
        elif filename.endswith((".bin", ".pth")):
            candidates.insert(0, filename[:-4] + ".safetensors")
        for candidate in candidates:
            found = try_to_load_from_cache(repo_id, candidate)
            if isinstance(found, str):
                return found
    url = str(cfg.get("url") or "")
    if url:
        legacy = Path("~/.cache/clip").expanduser() / os.path.basename(url)
        if legacy.is_file():
            return str(legacy)
    return None


def _resolve(arch: str, pretrained: str) -> tuple[str, dict[str, Any]]:
    import open_clip

    if open_clip.get_model_config(arch) is None:
        raise ConfigurationError(
            f"open_clip has no architecture {arch!r} (open_clip.list_models() lists them)"
        )
    path = Path(pretrained).expanduser()
    if path.is_file():
        return str(path), {}
    cfg: dict[str, Any] = open_clip.get_pretrained_cfg(arch, pretrained)
    if not cfg:
        if path.suffix in _CHECKPOINT_SUFFIXES or os.sep in pretrained:
            raise ConfigurationError(f"open_clip checkpoint file {pretrained!r} does not exist")
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise ConfigurationError(
            f"open_clip {arch} has no pretrained tag {pretrained!r} (known: {tags}); "
            "or give the path of a local checkpoint"
        )
    weights = _cached_weights(cfg)
    if weights is None:
        raise ConfigurationError(
            f"weights for {PREFIX}{arch}/{pretrained} are not on this machine and Vitrine does "
            "not download models: put them in the Hugging Face cache, or name a local "
            f"checkpoint as {PREFIX}{arch}/<path to .pt/.bin/.safetensors>"
        )
    return weights, cfg


def load(spec: str, *, device: str, batch_size: int = 32) -> TorchImageEncoder:
    """A fresh encoder for ``spec`` (the part after ``open_clip:``)."""
    force_offline()
    arch, pretrained = parse(spec)
    weights, cfg = _resolve(arch, pretrained)
    import open_clip

    if device == "cpu":
        limit_torch_threads()
    try:
        model, _, transform = open_clip.create_model_and_transforms(
            arch,
            pretrained=weights,
            device=device,
            force_quick_gelu=bool(cfg.get("quick_gelu", False)),
            image_mean=cfg.get("mean"),
            image_std=cfg.get("std"),
            image_interpolation=cfg.get("interpolation"),
            image_resize_mode=cfg.get("resize_mode"),
        )
    except Exception as exc:  # bad checkpoint, missing text-tower config offline, ...
        raise ConfigurationError(f"cannot load {PREFIX}{spec}: {exc}") from exc

    def preprocess(images: Sequence[Image.Image]) -> NDArray[np.float32]:
        return np.stack([transform(to_rgb(image)).numpy() for image in images]).astype(np.float32)

    return TorchImageEncoder(
        name=PREFIX + spec,
        dim=int(open_clip.get_model_config(arch)["embed_dim"]),
        module=model,
        preprocess=preprocess,
        device=device,
        batch_size=batch_size,
        forward=model.encode_image,
    )
