"""The use cases, one module per capability; each takes its ports explicitly."""
