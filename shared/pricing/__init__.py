"""Training prices and limits (a versioned file) and cost or duration estimates."""
