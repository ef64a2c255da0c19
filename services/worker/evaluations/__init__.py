"""The `providers` queue's evaluation task."""
