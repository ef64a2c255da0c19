"""The dataset pipeline as a library: sources -> clean -> dedupe -> render -> tokens -> limits -> JSONL."""
