"""Outbound networking: name resolution and the address guard of every outbound connection."""
