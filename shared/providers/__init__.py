"""Fine-tuning providers behind one interface: upload, create, get, events, checkpoints, cancel, chat."""
