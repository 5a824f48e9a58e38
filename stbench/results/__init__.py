"""Results: the result document, the stored predictions, scoring and rescoring."""
