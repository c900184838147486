"""Labelled evaluation sets kept in the repository (see tools/eval/README.md)."""
