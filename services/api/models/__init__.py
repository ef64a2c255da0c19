"""`/v1/models`: fine-tuned output models and their lineage."""
