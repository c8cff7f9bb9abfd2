"""Size rules: which input sizes an architecture accepts, read off its own modules, and the
verdicts (valid, aligned, nearest valid sizes, constructor arguments that lift a rule)."""
