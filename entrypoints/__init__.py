"""Thin shells (HTTP, CLI) and the composition root: the only place that wires adapters."""
