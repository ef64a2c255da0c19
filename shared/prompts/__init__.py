"""Pre-translate prompts and their rendering."""
