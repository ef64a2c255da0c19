"""Files: JSONL training and validation data, checked line by line as it streams in."""
