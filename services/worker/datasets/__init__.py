"""The `datasets` queue: dataset builds."""
