"""Evaluations of fine-tuned models: the job's validation set translated by base and fine-tuned model."""
