"""`/v1/fine_tuning/jobs`: OpenAI-compatible fine-tuning jobs, with providers, costs and lineage."""
