"""Catalog loading: read rows and images, validate, store in the catalog, encode, index.

Also the ``vitrine`` command line (``loaders.cli``), the composition root that may import
both ``backend`` and ``loaders``.
"""
