"""Tests of manhattan.backend.rollups, one module per module of the package."""
