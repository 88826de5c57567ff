"""The HTTP edge and the CLI: parse, call one use case, wrap the result in the envelope."""
