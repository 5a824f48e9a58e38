"""Executors: how the pending cells of a plan are computed.

* :mod:`.local`: in this process (``--jobs 1``, the default) or ``--jobs N`` worker processes,
  optionally one GPU each (``--gpus``).
* :mod:`.slurm`: one SLURM job array through submitit, one array task per cell.

All of them hand :class:`~stbench.grid.cell.CellSpec` objects to :func:`stbench.grid.cell.run`
(directly, or through :mod:`stbench.grid.worker`).
"""
