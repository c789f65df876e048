"""The backend: counting what the frontend logged.

``manhattan.backend.aggregate`` is the pure counting core,
``manhattan.backend.rollups`` the buckets counts are kept in,
``manhattan.backend.persistence`` the SQL store, and
``manhattan.backend.model`` the types they share.
"""
