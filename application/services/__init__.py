"""Use-case services: one class per area, each public method one use case."""
