"""The `evaluations` queue's task: run an evaluation."""
