"""The vector index: one port (``port.VectorIndex``) and two Qdrant adapters behind it."""
