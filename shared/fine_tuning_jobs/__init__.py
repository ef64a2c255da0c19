"""Fine-tuning jobs: the record, its state machine, and the provider work that moves it along."""
