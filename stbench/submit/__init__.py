"""Results from outside stbench: export a fold, score outside predictions, validate a results folder."""
