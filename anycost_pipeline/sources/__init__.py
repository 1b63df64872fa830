"""Readers: a source config in, a polars frame of source text out. No Dagster."""
