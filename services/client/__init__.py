"""The `attune` commands that talk to a running Attune over its HTTP API only (httpx, rich)."""
