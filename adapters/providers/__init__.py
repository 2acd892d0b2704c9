"""Provider clients over httpx: one module per wire format, a shared engine in ``_http``."""
