"""Per-team rate limiters."""
