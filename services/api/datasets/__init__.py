"""`/v1/datasets`: recipes in, training and validation files out."""
