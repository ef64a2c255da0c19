"""Provider work of fine-tuning jobs on the `providers` queue."""
