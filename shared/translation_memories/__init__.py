"""Translation memories and their units."""
