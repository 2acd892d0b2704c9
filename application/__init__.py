"""Use cases, written against ports; no SQL, no HTTP, no framework here."""
