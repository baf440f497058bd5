"""Models of the codes app (one module per model)."""
