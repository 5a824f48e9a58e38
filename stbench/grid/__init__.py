"""The grid of cells: what to compute (:mod:`.plan`), one cell anywhere (:mod:`.cell`), who
computes it (:mod:`.claims`), where (:mod:`.executors`), and how far it got (:mod:`.status`)."""
