"""The leaderboard's figures (matplotlib, Agg backend), each saved as PNG and SVG.

* ``folds_<metric>``: per cohort, every model's per-fold values as points with the mean as a
  bar, oracles set apart on a grey band at the right (the GenST paper's Figure 3 layout);
* ``cd_<metric>``: the critical-difference diagram of the models' average ranks (Demsar 2006);
* ``encoders``: the encoder view's heat map of mean ``pearson_gene`` over folds, one panel per
  cohort, encoders as rows and frozen-feature models as columns (:mod:`stbench.report.encoders`);
* ``ceiling_<cohort>``: the distribution over the panel of each gene's split-half ceiling;
* ``spatial_<cohort>``: one test slide, true vs predicted expression of the best-predicted
  genes, and true vs predicted Leiden cluster maps (the paper's Figure 4), from saved predictions.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from stbench.metrics import metric_info  # noqa: E402
from stbench.metrics.gene_moments import gene_pearson  # noqa: E402
from stbench.report.collect import Board, CellStats  # noqa: E402
from stbench.report.encoders import VIEW_METRIC, EncoderView  # noqa: E402
from stbench.report.significance import ALPHA, RankAnalysis  # noqa: E402
from stbench.report.truth import SlidePair, TruthSource  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "stbench", "font.size": 8})
N_GENES = 3
"""Genes shown in a spatial expression map."""


def save(fig, stem: Path) -> Path:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.svg`` without timestamps; returns the PNG."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(stem.with_suffix(".png"), dpi=150, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(stem.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return stem.with_suffix(".png")


def _colours(models: list[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(models)}


def fold_points(board: Board, metric: str, stem: Path) -> Path:
    """Per-fold values per model and cohort, mean marked, oracles on a grey band (Figure 3)."""
    info = metric_info(metric)
    models = board.models
    colours = _colours(models)
    n = len(board.cohorts)
    fig, axes = plt.subplots(1, n, figsize=(max(3.2, 0.45 * len(models) + 1.2) * n, 3.2), squeeze=False, sharey=True)
    rng = np.random.default_rng(0)
    for ax, cohort in zip(axes[0], board.cohorts):
        for x, model in enumerate(models):
            values = list(board.fold_values(cohort, model, metric).values())
            if not values:
                continue
            jitter = rng.uniform(-0.12, 0.12, len(values))
            ax.scatter(x + jitter, values, s=14, color=colours[model], alpha=0.8, linewidths=0)
            ax.hlines(np.mean(values), x - 0.3, x + 0.3, color="black", linewidth=1.5)
        if board.oracles:
            ax.axvspan(len(board.plain) - 0.5, len(models) - 0.5, color="0.9", zorder=0)
            ax.text(len(models) - 0.5, 1.0, "oracle", transform=ax.get_xaxis_transform(), ha="right", va="bottom",
                    fontsize=7, color="0.35")
        ax.set_xticks(range(len(models)), models, rotation=45, ha="right")
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_title(cohort)
        ax.grid(axis="y", color="0.9")
    axes[0][0].set_ylabel(f"{metric} ({'higher' if info.higher_is_better else 'lower'} is better)")
    fig.suptitle(f"{metric}: per-fold values (points), mean over folds (bar)", y=1.02)
    return save(fig, stem)


def ceiling_distribution(cohort: str, ceilings: np.ndarray, metric: CellStats | None, stem: Path) -> Path:
    """Histogram of the panel's per-gene ceilings (genes,), NaN left out; median and mean marked."""
    values = ceilings[np.isfinite(ceilings)]
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    ax.hist(values, bins=np.linspace(0.0, 1.0, 41), color="0.55")
    median = float(np.median(values)) if values.size else float("nan")
    ax.axvline(median, color="black", linewidth=1.2, label=f"median {median:.3f}")
    if metric is not None:
        ax.axvline(metric.mean, color="tab:red", linestyle="--", linewidth=1.2,
                   label=f"mean {metric.mean:.3f} (pearson_gene ceiling)")
    ax.set_xlim(0.0, 1.0)
    ax.set_xlabel("ceiling of the gene's Pearson (split-half, Spearman-Brown)")
    ax.set_ylabel("genes")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{cohort}: how much of each gene is predictable ({values.size} genes)")
    return save(fig, stem)


def cd_diagram(analysis: RankAnalysis, stem: Path) -> Path:
    """Critical-difference diagram: models on an average-rank axis (1 = best, left); models
    whose ranks differ by less than the Nemenyi CD are joined by a bar."""
    k = len(analysis.models)
    order = np.argsort(analysis.ranks, kind="stable")
    ranks = analysis.ranks[order]
    names = [analysis.models[i] for i in order]
    fig, ax = plt.subplots(figsize=(6.5, 1.2 + 0.28 * k))
    ax.set_xlim(0.5, k + 0.5)
    ax.set_ylim(-(max((k + 1) // 2, k // 2) + 1), 2.0)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", linewidth=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.2, color="black", linewidth=1)
        ax.text(r, 0.35, str(r), ha="center", va="bottom")
    ax.hlines(1.4, 1, 1 + analysis.cd, color="black", linewidth=2)
    ax.text(1 + analysis.cd / 2, 1.55, f"CD = {analysis.cd:.2f}", ha="center", va="bottom")
    half = (k + 1) // 2
    for i, (name, rank) in enumerate(zip(names, ranks)):
        left = i < half
        y = -(i + 1) if left else -(k - i)
        x_text = 0.6 if left else k + 0.4
        ax.plot([rank, rank, x_text], [0, y, y], color="0.3", linewidth=0.8)
        ax.text(x_text, y, f"{name} ({rank:.2f})", ha="left" if left else "right", va="center",
                backgroundcolor="white")
    # maximal groups of models within CD of each other
    groups = []
    for i in range(k):
        j = i
        while j + 1 < k and ranks[j + 1] - ranks[i] < analysis.cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in groups):
            groups.append((i, j))
    for g, (i, j) in enumerate(groups):
        y = -0.4 - 0.25 * g
        ax.hlines(y, ranks[i] - 0.03, ranks[j] + 0.03, color="black", linewidth=3)
    f = analysis.friedman
    fried = "Friedman: n/a" if np.isnan(f.p) else f"Friedman chi2 = {f.statistic:.2f}, p = {f.p:.3g}"
    ax.set_title(f"{analysis.metric}: average ranks over {analysis.blocks}\n{fried}; Nemenyi alpha = {ALPHA}",
                 fontsize=8)
    return save(fig, stem)


def encoder_heatmap(view: EncoderView, stem: Path) -> Path:
    """Per cohort, the mean over folds of :data:`VIEW_METRIC` for each (encoder, model), annotated;
    an absent cell is blank. One colour scale across panels."""
    cohorts = view.board.cohorts
    grids = [np.array([[s.mean if (s := view.stats(c, e, m)) is not None else np.nan for m in view.models]
                       for e in view.encoders[c]]) for c in cohorts]
    finite = np.concatenate([g[np.isfinite(g)] for g in grids])
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmax - vmin < 0.01:  # nearly equal cells: a 0.01-wide scale, not one stretched over rounding noise
        vmin, vmax = (vmin + vmax) / 2 - 0.005, (vmin + vmax) / 2 + 0.005
    width = 1.2 + 0.9 * len(view.models)
    fig, axes = plt.subplots(1, len(cohorts), figsize=(width * len(cohorts), 0.9 + 0.35 * max(map(len, grids))),
                             squeeze=False)
    for ax, cohort, grid in zip(axes[0], cohorts, grids):
        image = ax.imshow(grid, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w" if value < (vmin + vmax) / 2 else "k")
        ax.set_xticks(range(len(view.models)), view.models, rotation=30, ha="right")
        ax.set_yticks(range(len(view.encoders[cohort])), view.encoders[cohort])
        ax.set_title(cohort)
    bar = fig.colorbar(image, ax=axes[0].tolist(), label=f"{VIEW_METRIC} (mean over folds)")
    bar.formatter.set_useOffset(False)
    return save(fig, stem)


def _pick_slide(board: Board, truth: TruthSource, cohort: str) -> tuple[str, dict[str, SlidePair]] | None:
    """The first test slide (by fold, then id) with saved predictions for the most models."""
    candidates: dict[str, dict[str, tuple]] = {}
    for model in board.models:
        for r in board.results(cohort, model):
            for s in r.document.get("cohort", {}).get("test_slides") or []:
                candidates.setdefault(s, {})[model] = (r.fold, r)
    ranked = sorted(candidates, key=lambda s: (-len(candidates[s]), min(f for f, _ in candidates[s].values()), s))
    for slide in ranked:
        pairs = {}
        for model, (_, r) in candidates[slide].items():
            pairs.update({model: p for p in truth.pairs(r, [slide])})
        if pairs:
            return slide, pairs
    return None




def _match_labels(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Relabel ``pred`` so that each predicted cluster takes the true label it overlaps most
    (Hungarian matching), for comparable colours; unmatched clusters get new labels."""
    t_ids, p_ids = np.unique(true), np.unique(pred)
    overlap = np.array([[np.sum((pred == p) & (true == t)) for t in t_ids] for p in p_ids])
    rows, cols = linear_sum_assignment(-overlap)
    mapping = {p_ids[r]: t_ids[c] for r, c in zip(rows, cols)}
    extra = iter(range(int(t_ids.max()) + 1, int(t_ids.max()) + 1 + len(p_ids)))
    for p in p_ids:
        mapping.setdefault(p, next(extra))
    return np.array([mapping[p] for p in pred])


def spatial_maps(board: Board, truth: TruthSource, cohort: str, stem: Path) -> tuple[list[Path], list[str]]:
    """The spatial figures of one test slide of ``cohort``: ``<stem>_genes`` (true vs predicted
    expression of the ``N_GENES`` genes the best non-oracle model predicts best on that slide)
    and ``<stem>_clusters`` (true vs predicted Leiden clusters). Returns written PNGs and notes."""
    picked = _pick_slide(board, truth, cohort)
    if picked is None:
        return [], [f"{cohort}: figures {stem.name}_genes and {stem.name}_clusters left out "
                    "(no saved predictions with truth available)"]
    slide, pairs = picked
    models = [m for m in board.models if m in pairs]
    first = pairs[models[0]]
    xy = first.coords
    plain = [m for m in models if m in board.plain] or models
    score = {m: np.nanmean([v for v in board.fold_values(cohort, m, "pearson").values()] or [np.nan]) for m in plain}
    lead = max(plain, key=lambda m: (np.nan_to_num(score[m], nan=-np.inf), m == plain[0]))
    gene_r = np.nan_to_num(gene_pearson(first.truth, pairs[lead].pred.X), nan=-np.inf)  # constant truth last
    genes = np.argsort(-gene_r, kind="stable")[:N_GENES]
    written, notes = [], []

    def scatter(ax, values, title, **kw):
        ax.scatter(xy[:, 0], xy[:, 1], c=values, s=6, linewidths=0, **kw)
        ax.set_title(title, fontsize=7)
        ax.set_aspect("equal")
        ax.invert_yaxis()
        ax.set_xticks([])
        ax.set_yticks([])

    cols = 1 + len(models)
    fig, axes = plt.subplots(len(genes), cols, figsize=(1.9 * cols, 1.9 * len(genes)), squeeze=False)
    for row, g in enumerate(genes):
        true_g = first.truth[:, g]
        vmin, vmax = float(true_g.min()), float(true_g.max())
        name = first.genes[g]
        scatter(axes[row][0], true_g, f"{name}: truth", cmap="viridis", vmin=vmin, vmax=vmax)
        for col, m in enumerate(models, start=1):
            pred_g = pairs[m].pred.X[:, g].astype(np.float32)
            r = gene_pearson(first.truth[:, [g]], pred_g[:, None])[0]
            label = f"r = {r:.2f}" if np.isfinite(r) else "constant truth"
            scatter(axes[row][col], pred_g, f"{name}: {m} ({label})", cmap="viridis", vmin=vmin, vmax=vmax)
    fig.suptitle(f"{cohort} / {slide} (fold {first.fold}): genes best predicted by {lead}; shared colour scale per row "
                 "(log1p)", fontsize=8)
    written.append(save(fig, Path(f"{stem}_genes")))

    clustered = [m for m in models if pairs[m].pred.clusters_pred is not None]
    true_labels = next((pairs[m].pred.clusters_true for m in models if pairs[m].pred.clusters_true is not None), None)
    if true_labels is None or not clustered:
        notes.append(f"{cohort}: figure {stem.name}_clusters left out (the saved predictions hold no cluster labels)")
        return written, notes
    fig, axes = plt.subplots(1, 1 + len(clustered), figsize=(2.2 * (1 + len(clustered)), 2.4), squeeze=False)
    matched = {m: _match_labels(true_labels, pairs[m].pred.clusters_pred) for m in clustered}
    n_labels = 1 + max(int(true_labels.max()), *(int(v.max()) for v in matched.values()))
    cmap = plt.get_cmap("tab10" if n_labels <= 10 else "tab20")
    scatter(axes[0][0], [cmap(int(v) % cmap.N) for v in true_labels], "truth")
    for col, m in enumerate(clustered, start=1):
        scatter(axes[0][col], [cmap(int(v) % cmap.N) for v in matched[m]], m)
    fig.suptitle(f"{cohort} / {slide}: Leiden clusters of true vs predicted expression (predicted labels matched to "
                 "true ones for colour)", fontsize=8)
    written.append(save(fig, Path(f"{stem}_clusters")))
    return written, notes
