"""HTTP fakes of provider fine-tuning APIs, serving their documented responses and failure modes."""
