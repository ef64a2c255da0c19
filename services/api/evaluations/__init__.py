"""`/v1/fine_tuning/jobs/{id}/evaluation`: base model against fine-tuned model on the validation set."""
