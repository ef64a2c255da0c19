"""Projects and their approved translations."""
