"""The generator of the built-in synthetic cohorts (``demo``, ``demo-sparse``): gene panel,
texture tiles, slides, rendering and the slide files."""
