"""Ports: the Protocols through which use cases reach the world."""
