"""Retention pipelines: load support exports, validate them, and build the DuckDB marts."""

__version__ = "0.1.0"
