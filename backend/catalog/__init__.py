"""The SQL catalog: products, their images and load jobs; the source of truth for search.

``models`` declares the tables, ``schema`` the plain data loaders hand over, ``service`` the
queries, ``jobs`` the upload-job queue, ``tokens`` admin API tokens, ``db`` engines, sessions,
migrations and the Flask hook.
"""
