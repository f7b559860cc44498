"""Benchmarks: scripts that print tables of measured numbers (not tests)."""
