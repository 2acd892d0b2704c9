"""The pure core: entities, value objects and the rules of money, credits and jobs.

Nothing here performs I/O or imports an outer layer; only the standard library and
msgspec are allowed (enforced by tests/unit/test_architecture.py).
"""
