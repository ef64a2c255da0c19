"""Provider credentials: write-only API keys, encrypted at rest."""
