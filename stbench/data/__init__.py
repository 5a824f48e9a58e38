"""Data: the spot/slide model, cohort readers and preparation, the demo cohort, downloads."""
