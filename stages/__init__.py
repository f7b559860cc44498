"""Thin click commands, one per DVC stage."""
