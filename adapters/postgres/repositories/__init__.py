"""Repositories over the unit of work's connection: one module per aggregate family."""
