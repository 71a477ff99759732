"""Vitrine's exception tree; each class carries the HTTP status the API answers with.

    VitrineError                      base; 500
    ├── InvalidRequest                bad query parameter or form field; 400
    │   ├── InvalidImage              upload missing, not an image, or corrupt; 400
    │   └── UnsafeArchive             a zip entry with an absolute path or ``..``; 400
    ├── Unauthorized                  admin route without a known token; 401
    ├── Forbidden                     admin route with a revoked token; 403
    ├── PayloadTooLarge               upload over the size or pixel limit; 413
    ├── UnsupportedMediaType          upload of a type we do not read; 415
    ├── NotFound                      404
    │   ├── ProductNotFound           unknown sku
    │   └── JobNotFound               unknown upload job id
    ├── InvalidCatalogRow             a catalog row that cannot be loaded; 422
    ├── DiskFull                      less free disk than VITRINE_MIN_FREE_BYTES; 507
    ├── ConfigurationError            settings that cannot work (unknown encoder,
    │   │                             checkpoint for other encoders); 500
    │   └── IndexConfigMismatch       collection built by other encoders or dimensions
    ├── Overloaded                    too many searches waiting already (Retry-After); 503
    └── IndexUnavailable              the vector index cannot be reached or is locked; 503
        ├── IndexMissing              the catalog has indexed products, the index has none
        └── IndexCorrupt              the index's files cannot be read (``vitrine index repair``)

``backend.api.errors.register_error_handlers`` maps them to ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations


class VitrineError(Exception):
    """Base of every error Vitrine raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(VitrineError):
    """A request parameter is missing, malformed or out of range."""

    status = 400
    code = "invalid_request"


class InvalidImage(InvalidRequest):
    """An uploaded or referenced image is missing, not an image, or cannot be decoded."""

    code = "invalid_image"


class UnsafeArchive(InvalidRequest):
    """An uploaded zip whose entries would land outside its folder (absolute path, ``..``)."""

    code = "unsafe_archive"


class Unauthorized(VitrineError):
    """An admin route called without a bearer token, or with one nobody created."""

    status = 401
    code = "unauthorized"


class Forbidden(VitrineError):
    """An admin route called with a token that has been revoked."""

    status = 403
    code = "token_revoked"


class PayloadTooLarge(VitrineError):
    """An upload exceeds the byte or pixel limit."""

    status = 413
    code = "payload_too_large"


class DiskFull(VitrineError):
    """Too little free disk to write safely: Qdrant Edge writes through memory maps, and a
    full disk under them kills the process (SIGBUS) instead of failing one write."""

    status = 507
    code = "insufficient_storage"


class UnsupportedMediaType(VitrineError):
    """An upload of a content type Vitrine does not read."""

    status = 415
    code = "unsupported_media_type"


class NotFound(VitrineError):
    """A resource does not exist."""

    status = 404
    code = "not_found"


class ProductNotFound(NotFound):
    """No product has the requested sku."""

    code = "product_not_found"

    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with sku {sku!r}")
        self.sku = sku


class JobNotFound(NotFound):
    """No upload job has the requested id."""

    code = "job_not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no upload job {job_id!r}")
        self.job_id = job_id


class Conflict(VitrineError):
    """The request is valid but the resource's state does not allow it now."""

    status = 409
    code = "conflict"


class InvalidCatalogRow(VitrineError):
    """A catalog row fails validation; carries its line number."""

    status = 422
    code = "invalid_catalog_row"

    def __init__(self, message: str, *, line: int | None = None, sku: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.sku = sku


class ConfigurationError(VitrineError):
    """Settings that cannot work: an unknown encoder name, a missing model file."""

    code = "configuration_error"


class IndexConfigMismatch(ConfigurationError):
    """The collection on disk was built by other encoders or with other vector sizes."""

    code = "index_config_mismatch"


class Overloaded(VitrineError):
    """More searches are running and waiting than the server takes; try again shortly."""

    status = 503
    code = "overloaded"
    retry_after = 1  # seconds, sent as Retry-After


class IndexUnavailable(VitrineError):
    """The vector index cannot be reached, or its folder is held by another process."""

    status = 503
    code = "index_unavailable"


# What every IndexMissing / IndexCorrupt message ends with: the one command that gets out.
REPAIR_HINT = "`vitrine index repair` sets the folder aside and rebuilds the index from the catalog"


class IndexMissing(IndexUnavailable):
    """The catalog marks products indexed but the index has no collection or no points: its
    folder was deleted or emptied. Serving it would answer every search with nothing."""

    code = "index_missing"


class IndexCorrupt(IndexUnavailable):
    """The index's files exist but cannot be read (a garbled pointer, segment or WAL)."""

    code = "index_corrupt"
