"""`/v1/files`: OpenAI-compatible upload (streamed and checked line by line), list, retrieve, download."""
