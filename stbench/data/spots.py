"""The data model predictors see: slides of spots, and views over sets of slides.

A :class:`Slide` holds one tissue section after preparation: ``n_spots`` spots, each with a
224 x 224 RGB patch (uint8, 0.5 um/px for HEST-1k), a spot centre in full-resolution slide
pixels, and a row of expression on the cohort's gene panel (float32, log1p of total-count
normalised counts). Patches and expression are read lazily, so a cohort larger than memory
is fine.

A :class:`SpotData` is what :meth:`stbench.Predictor.fit` and ``predict`` receive: a tuple of
slides plus the gene panel. For a non-oracle predictor the harness passes held-out slides with
their expression removed; reading it raises :class:`~stbench.errors.ExpressionHiddenError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from stbench.errors import ExpressionHiddenError

PATCH_SIZE = 224
"""Side of a stored patch in pixels."""

PatchLoader = Callable[[np.ndarray], np.ndarray]
"""Reads patches for the given spot rows: int64 (k,) -> uint8 (k, 224, 224, 3)."""
ExpressionLoader = Callable[[], np.ndarray]
"""Reads a slide's expression: -> float32 (n_spots, n_genes), log1p space."""


@dataclass(frozen=True, eq=False)
class Slide:
    """One prepared slide.

    Attributes:
        id: slide identifier (HEST sample id or STImage slide name).
        technology: sequencing technology, e.g. ``"Visium"`` or ``"Spatial Transcriptomics"``.
        organ: organ or tissue name.
        patient: patient identifier when the metadata names one, else ``None``.
        species: species name when known.
        barcodes: (n_spots,) str, spot barcodes in row order.
        coords: (n_spots, 2) float32, spot centres (x, y) in full-resolution slide pixels.
        patch_key: identifies the stored patches' content (a hash); caches of anything
            computed from the patches (resized copies, frozen-encoder features) key on it.
    """

    id: str
    technology: str
    organ: str
    patient: str | None
    species: str | None
    barcodes: np.ndarray
    coords: np.ndarray
    patch_key: str
    _patches: PatchLoader = field(repr=False, compare=False)
    _expression: ExpressionLoader | None = field(repr=False, compare=False)

    @property
    def n_spots(self) -> int:
        return len(self.barcodes)

    @property
    def has_expression(self) -> bool:
        return self._expression is not None

    def patches(self, rows: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """Patches of the given spot rows (all when ``None``): uint8 (k, 224, 224, 3), RGB."""
        idx = np.arange(self.n_spots) if rows is None else np.asarray(rows, dtype=np.int64)
        return self._patches(idx)

    def expression(self) -> np.ndarray:
        """Expression on the panel: float32 (n_spots, n_genes), log1p of normalised counts."""
        if self._expression is None:
            raise ExpressionHiddenError(
                f"The expression of held-out slide {self.id} is hidden from predictors "
                "that are not declared oracles."
            )
        return self._expression()

    def spot_spacing(self) -> float:
        """Median centre-to-centre distance to the nearest other spot, in slide pixels."""
        if self.n_spots < 2:
            return float("nan")
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(self.coords).query(self.coords, k=2)
        return float(np.median(dist[:, 1]))

    def without_expression(self) -> Slide:
        """The same slide with its expression hidden."""
        return replace(self, _expression=None)


@dataclass(frozen=True)
class SpotData:
    """A set of slides on one gene panel: what predictors are fitted on and predict for.

    Rows are ordered slide by slide, then by spot row within the slide; arrays that span the
    whole set (``expression()``, ``coords()``) follow that order.
    """

    genes: tuple[str, ...]
    slides: tuple[Slide, ...]

    @property
    def n_genes(self) -> int:
        return len(self.genes)

    @property
    def n_spots(self) -> int:
        return sum(s.n_spots for s in self.slides)

    @property
    def has_expression(self) -> bool:
        return all(s.has_expression for s in self.slides)

    def __iter__(self) -> Iterator[Slide]:
        return iter(self.slides)

    def __len__(self) -> int:
        return len(self.slides)

    def expression(self) -> np.ndarray:
        """All expression, float32 (n_spots, n_genes), log1p space, slide by slide."""
        if not self.slides:
            return np.zeros((0, self.n_genes), np.float32)
        return np.concatenate([s.expression() for s in self.slides]).astype(np.float32, copy=False)

    def coords(self) -> np.ndarray:
        """All spot centres, float32 (n_spots, 2), (x, y) in each slide's own pixels."""
        return np.concatenate([s.coords for s in self.slides]).astype(np.float32, copy=False)

    def spot_index(self) -> np.ndarray:
        """int64 (n_spots, 2): for each row, (slide position in ``slides``, row in the slide)."""
        parts = [
            np.stack([np.full(s.n_spots, i), np.arange(s.n_spots)], axis=1)
            for i, s in enumerate(self.slides)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)

    def subset(self, slide_ids: Sequence[str]) -> SpotData:
        """The slides with these ids, in the order given."""
        by_id = {s.id: s for s in self.slides}
        return SpotData(self.genes, tuple(by_id[i] for i in slide_ids))

    def hide_expression(self) -> SpotData:
        """The same slides with expression hidden (what non-oracles get at predict time)."""
        return SpotData(self.genes, tuple(s.without_expression() for s in self.slides))


def in_memory_slide(
    id: str,
    patches: np.ndarray,
    expression: np.ndarray | None,
    coords: np.ndarray,
    *,
    technology: str = "Visium",
    organ: str = "Synthetic",
    patient: str | None = None,
    species: str | None = None,
    barcodes: Sequence[str] | None = None,
) -> Slide:
    """A slide backed by arrays: patches uint8 (n, 224, 224, 3), expression float32 (n, g)."""
    import hashlib

    n = len(patches)
    key = hashlib.sha256(np.ascontiguousarray(patches).tobytes()).hexdigest()[:16]
    bc = np.asarray(barcodes if barcodes is not None else [f"{id}-{i}" for i in range(n)])
    expr = None if expression is None else np.asarray(expression, np.float32)
    return Slide(
        id=id,
        technology=technology,
        organ=organ,
        patient=patient,
        species=species,
        barcodes=bc,
        coords=np.asarray(coords, np.float32),
        patch_key=key,
        _patches=lambda rows: patches[rows],
        _expression=None if expr is None else (lambda: expr),
    )
