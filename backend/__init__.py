"""Vitrine: a multimodal product search backend (catalog in SQL, vectors in Qdrant, Flask API)."""
