"""The leaderboard's encoder view: per cohort, frozen encoders as rows and frozen-feature models as columns.

A model is *frozen-feature* when its results record an encoder: the ``encoder`` key of the
result's ``model.settings`` (a ``--set encoder=NAME``) or, failing that, of ``model.config``
(the profile's default). No model is known by name. Each (encoder, model) pair becomes one
entry of a derived :class:`~stbench.report.collect.Board` whose "models" are those entries, so
the view's marks are the leaderboard's own (:func:`~stbench.report.significance.compare`):
within a cohort, the best entry by mean over folds is bold and ≈ marks an entry that neither the
corrected t-test over folds nor the Wilcoxon test over test slides finds worse.

Results are grouped from the documents, not from the folder layout. The layout keeps the
encoders of one model apart (``<model>/`` for the profile's encoder, ``<model>@<encoder>/`` for
a ``--set encoder=NAME``: :func:`stbench.results.document.model_entry`), so one results folder
holds several encoders per model, and a cell's seeds are averaged within each fold as on the
leaderboard.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Mapping

from stbench.report.collect import Board
from stbench.report.significance import Comparison, compare
from stbench.results.document import ENCODER_KEY

VIEW_METRIC = "pearson_gene"
"""The metric the encoder view shows (HEST-Benchmark's: per-gene Pearson over the fold's test
spots, mean over genes)."""
SEPARATOR = " · "


def result_encoder(document: Mapping[str, Any]) -> str | None:
    """The encoder a result document records (``model.settings`` first, then ``model.config``), or ``None``."""
    model = document.get("model") or {}
    for section in (model.get("settings"), model.get("config")):
        value = (section or {}).get(ENCODER_KEY) if isinstance(section, Mapping) else None
        if isinstance(value, str) and value:
            return value
    return None


def entry_label(encoder: str, model: str) -> str:
    """The derived board's name of an (encoder, model) entry."""
    return f"{encoder}{SEPARATOR}{model}"


@dataclass
class EncoderView:
    """The encoder view of a board.

    Attributes:
        board: derived board; its cells are keyed (cohort, :func:`entry_label`).
        entries: label -> (encoder, model).
        models: the frozen-feature models (the columns), by name.
        encoders: cohort -> its measured encoders (the rows), by name.
        comparisons: cohort -> label -> :class:`Comparison` with the cohort's best entry
            (on :data:`VIEW_METRIC`).
    """

    board: Board
    entries: dict[str, tuple[str, str]]
    models: list[str]
    encoders: dict[str, list[str]]
    comparisons: dict[str, dict[str, Comparison]]

    def stats(self, cohort: str, encoder: str, model: str):
        """The :class:`~stbench.report.collect.CellStats` of one cell on :data:`VIEW_METRIC`, or ``None``."""
        return self.board.stats(cohort, entry_label(encoder, model), VIEW_METRIC)


def encoder_view(board: Board) -> EncoderView | None:
    """The encoder view of ``board``; ``None`` when no non-oracle result records an encoder
    or none holds :data:`VIEW_METRIC`."""
    if VIEW_METRIC not in board.metrics:
        return None
    cells: dict[tuple[str, str], list] = defaultdict(list)
    entries: dict[str, tuple[str, str]] = {}
    for (cohort, entry), results in board.cells.items():
        if entry in board.oracles:
            continue
        for r in results:
            encoder = result_encoder(r.document)
            if encoder is not None:
                label = entry_label(encoder, r.model)
                entries[label] = (encoder, r.model)
                cells[(cohort, label)].append(r)
    if not cells:
        return None
    for rs in cells.values():
        rs.sort(key=lambda r: (r.fold, r.seed))
    labels = sorted(entries, key=lambda lb: (entries[lb][1], entries[lb][0]))
    derived = replace(
        board, cells=dict(cells), cohorts=[c for c in board.cohorts if any(k[0] == c for k in cells)],
        plain=labels, oracles=[], stale=[],
    )
    encoders = {c: sorted({entries[lb][0] for (cc, lb) in cells if cc == c}) for c in derived.cohorts}
    return EncoderView(
        board=derived,
        entries=entries,
        models=sorted({m for _, m in entries.values()}),
        encoders=encoders,
        comparisons={c: compare(derived, c, VIEW_METRIC) for c in derived.cohorts},
    )
