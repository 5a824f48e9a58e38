"""The leaderboard as one self-contained web page: ``<dir>/index.html``.

No server and nothing fetched: the style and script are inline, figures are the PNGs in
``<dir>/figures/`` and CSVs in ``<dir>/exports/`` (relative links). Four tabs: the overview and
model cards (:mod:`stbench.report.site`), the details (one table per metric, one row per
(cohort, model), with significance and the paper's values; the encoder view) and the figures
(spatial maps, ceilings, artefacts, exports, provenance). Every table sorts by clicking a column
header; filters by cohort, metric and encoder, also set from the URL
(``index.html#cohort=demo&metric=pearson``). When the script has run, ``<body data-ready="1">``.
"""

from __future__ import annotations

import html
import os
from pathlib import Path

from stbench.metrics import metric_info
from stbench.report.analysis import Analysis, Artefacts
from stbench.report.collect import provenance, stale_message
from stbench.report.markdown import MARK
from stbench.report.encoders import VIEW_METRIC, entry_label
from stbench.report.markdown import encoder_rows
from stbench.report.reference import HEST_SOURCE, SOURCE
from stbench.report.significance import ALPHA, best_model
from stbench.report.site import SCRIPT, STYLE, card_section, filters, model_encoder, model_label, overview

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2;cursor:pointer}td.l,th.l{text-align:left}tr.oracle{background:#f7f7f7;font-style:italic}
tr.reported td{color:#666}.best{font-weight:bold}.note{color:#555;font-size:.9em}img{max-width:min(100%,760px);display:block;margin:.5em 0}
.filters{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ddd}
.warn{background:#fff3cd;padding:.5em;border:1px solid #e0c36a}tr.ceiling{background:#eef4fb}
"""

_HEADERS = ["cohort", "model", "mean", "std", "seed std", "folds", "vs best", "p (corrected t)", "p (Wilcoxon)",
            "reported", "measured − reported"]


def _e(text: object) -> str:
    return html.escape(str(text))


def _num(value: float | None, fmt: str = ".3f") -> str:
    if value is None or value != value:
        return '<td data-v=""></td>'
    return f'<td data-v="{value!r}">{value:{fmt}}</td>'


def _metric_section(analysis: Analysis, metric: str, art: Artefacts, base: Path) -> list[str]:
    board = analysis.board
    info = metric_info(metric)
    ceilings = analysis.ceilings if analysis.ceilings.has(metric) else None
    out = [f'<section class="metric" data-metric="{_e(metric)}" id="m-{_e(metric)}">',
           f"<h3><code>{_e(metric)}</code> {'↑' if info.higher_is_better else '↓'}</h3>",
           f'<p class="note">{_e(info.description)}</p>',
           f'<table class="board" data-metric="{_e(metric)}"><thead><tr>'
           + "".join(f'<th data-sort class="{"l" if h in ("cohort", "model", "vs best") else ""}">{_e(h)}</th>'
                     for h in _HEADERS + (["fraction of ceiling"] if ceilings else [])) + "</tr></thead><tbody>"]
    for cohort in board.cohorts:
        best = best_model(board, cohort, metric)
        comps = analysis.comparisons.get((cohort, metric), {})
        reported = analysis.reported_for(cohort, metric)
        for model in board.models:
            s = board.stats(cohort, model, metric)
            if s is None and model not in reported:
                continue
            oracle = model in board.oracles
            comp = comps.get(model)
            if oracle:
                verdict = "oracle (not tested)"
            elif model == best:
                verdict = "best"
            elif comp is None or comp.not_worse is None:
                verdict = "untested"
            else:
                verdict = f"{MARK} not worse" if comp.not_worse else "worse"
            rep = reported.get(model)
            cls = "oracle" if oracle else ""
            cls += " submitted" if model in analysis.cards else ""
            row = [f'<tr class="{cls.strip()}" data-cohort="{_e(cohort)}" data-model="{_e(model)}" '
                   f'data-encoder="{_e(model_encoder(analysis, model))}">',
                   f'<td class="l">{_e(cohort)}</td>', f'<td class="l">{model_label(analysis, model)}</td>']
            if s is None:
                row += ['<td data-v=""></td>'] * 4
            else:
                row.append(_num(s.mean).replace("<td", '<td class="best"', 1) if model == best else _num(s.mean))
                row += [_num(s.std), _num(s.seed_std), _num(float(s.n), ".0f")]
            row.append(f'<td class="l">{_e(verdict)}</td>')
            row += [_num(comp.ttest.p if comp else None, ".3g"), _num(comp.wilcoxon.p if comp else None, ".3g")]
            if rep is not None:
                row.append(f'<td data-v="{rep.mean!r}" title="{_e(rep.label())}; bracket = {rep.spread_kind}">'
                           f"{_e(rep.text())} reported</td>")
                row.append(_num(s.mean - rep.mean if s else None, "+.3f"))
            else:
                row += ['<td data-v=""></td>'] * 2
            if ceilings:
                fraction = ceilings.fraction(board, cohort, model, metric)
                row.append(_num(fraction.mean if fraction else None))
            out.append("".join(row) + "</tr>")
        if ceilings and (c := ceilings.stats(cohort, metric)) is not None:
            out.append(f'<tr class="ceiling" data-cohort="{_e(cohort)}" data-model="ceiling">'
                       f'<td class="l">{_e(cohort)}</td><td class="l">ceiling (split-half)</td>'
                       + _num(c.mean) + _num(c.std) + _num(float(c.n), ".0f")
                       + '<td class="l">measurement\'s own limit</td>' + '<td data-v=""></td>' * 5 + "</tr>")
    out.append("</tbody></table>")
    ra = analysis.ranks.get(metric)
    if ra is not None:
        ranks = ", ".join(f"{m} {r:.2f}" for m, r in sorted(zip(ra.models, ra.ranks), key=lambda x: x[1]))
        f = ra.friedman
        fried = f"Friedman: {f.note}" if f.note else f"Friedman chi2 = {f.statistic:.2f}, p = {f.p:.3g}"
        out.append(f'<p class="note">Average ranks over {_e(ra.blocks)}: {_e(ranks)}. {_e(fried)}; '
                   f"Nemenyi CD (alpha {ALPHA}) = {ra.cd:.2f}.</p>")
    for key in (f"folds_{metric}", f"cd_{metric}"):
        if key in art.figures:
            out.append(f'<img alt="{_e(key)}" src="{_e(_rel(art.figures[key], base))}">')
    return out + ["</section>"]


def _encoder_section(analysis: Analysis, art: Artefacts, base: Path) -> list[str]:
    """Per cohort, encoders x frozen-feature models on the view's metric, marks as in the boards."""
    view = analysis.encoders
    if view is None:
        return []
    out = ['<section class="encoders" id="encoders"><h2>Encoders (frozen-feature models)</h2>',
           f'<p class="note"><code>{_e(VIEW_METRIC)}</code>, mean over folds. Rows: the encoder a result records; '
           f"columns: the models whose results record one. <b>Bold</b>: best cell of the cohort; {MARK}: not "
           f"significantly worse. HEST reported: {_e(HEST_SOURCE)}, never ranked or tested.</p>"]
    for cohort in view.board.cohorts:
        best = best_model(view.board, cohort, VIEW_METRIC)
        comps = view.comparisons.get(cohort, {})
        hest = any(c == cohort for c, _ in analysis.hest_reported)
        heads = ["encoder", *view.models, *(["HEST reported"] if hest else [])]
        out.append(f'<h3>{_e(cohort)}</h3><table class="encoders" data-cohort="{_e(cohort)}"><thead><tr>'
                   + "".join(f'<th data-sort class="{"l" if i == 0 else ""}">{_e(h)}</th>' for i, h in enumerate(heads))
                   + "</tr></thead><tbody>")
        for encoder in encoder_rows(analysis, cohort):
            row = [f'<tr data-encoder="{_e(encoder)}"><td class="l">{_e(encoder)}</td>']
            for model in view.models:
                label, s = entry_label(encoder, model), view.stats(cohort, encoder, model)
                if s is None:
                    row.append('<td data-v=""></td>')
                    continue
                mark = f" {MARK}" if label in comps and comps[label].not_worse else ""
                cls = ' class="best"' if label == best else ""
                seeds = f", seed std {s.seed_std:.3f} over {s.seeds} seeds" if s.seed_std is not None else ""
                row.append(f'<td{cls} data-v="{s.mean!r}" title="± {s.std:.3f}, {s.n} folds{seeds}">{s.mean:.3f}{mark}</td>')
            if hest:
                value = analysis.hest_reported.get((cohort, encoder))
                row.append(_num(value, ".4f").replace("<td", '<td title="reported"', 1) if value is not None
                           else '<td data-v=""></td>')
            out.append("".join(row) + "</tr>")
        out.append("</tbody></table>")
    if "encoders" in art.figures:
        out.append(f'<img alt="encoders" src="{_e(_rel(art.figures["encoders"], base))}">')
    return out + ["</section>"]


def _rel(path: Path, base: Path) -> str:
    return Path(os.path.relpath(path, base)).as_posix()


def render_html(analysis: Analysis, art: Artefacts, base: Path) -> str:
    """The page's HTML; links relative to ``base`` (the page's folder)."""
    board = analysis.board
    prov = provenance(board)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             "<title>stbench leaderboard</title>", f"<style>{_STYLE}{STYLE}</style></head><body>",
             "<h1>stbench leaderboard</h1>"]
    stale = stale_message(board)
    if stale:
        parts.append(f'<p class="warn">Outdated scores: {_e(stale)}</p>')
    parts.append(filters(analysis))
    parts += overview(analysis)
    parts += ['<div class="tab" id="tab-details" hidden>',
              f'<p class="note">Mean and population std (ddof = 0) over folds, a fold being the mean of its seeds; '
              "seed std: the population std over a fold's seeds, mean over folds (empty with one seed). "
              f'<b>Bold</b>: best non-oracle model of '
             f"the cohort. {MARK} not worse: neither the Nadeau-Bengio corrected resampled t-test over folds nor the "
             f"Wilcoxon signed-rank test over test slides rejects \"worse than the best\" at alpha = {ALPHA} "
             "(one-sided, uncorrected). Oracles read the test expression and are not tested. \"reported\": the "
             f"GenST paper's published value ({_e(SOURCE)}) or, as its tooltip names, the method's own paper's; "
             "never ranked or tested; Table 3 brackets are "
             "variances, shown as printed. \"ceiling (split-half)\": the measurement's own reliability limit of a "
             "correlation metric, from the test slides' raw counts; \"fraction of ceiling\": the model's value over "
             "the ceiling, per fold, mean over folds (docs/ceiling.md). Click a column header to sort.</p>"]
    for metric in board.metrics:
        parts += _metric_section(analysis, metric, art, base)
    parts += _encoder_section(analysis, art, base)
    parts.append("</div>")
    parts += card_section(analysis)
    parts.append('<div class="tab" id="tab-figures" hidden><h2>Spatial maps</h2>')
    spatial = [k for k in art.figures if k.startswith("spatial_")]
    parts += [f'<img alt="{_e(k)}" src="{_e(_rel(art.figures[k], base))}">' for k in spatial] or [
        "<p>No saved predictions with truth: no spatial maps.</p>"]
    ceiling_figures = [k for k in art.figures if k.startswith("ceiling_")]
    if ceiling_figures:
        parts.append("<h2>The measurement's ceiling</h2>")
        parts += [f'<img alt="{_e(k)}" src="{_e(_rel(art.figures[k], base))}">' for k in ceiling_figures]
    if art.extras:
        parts.append("<h2>Model artefacts</h2><ul>")
        parts += [f'<li>{_e(c)} fold {f}: <a href="{_e(_rel(p, base))}">{_e(k)}</a></li>' for c, k, f, p in art.extras]
        parts.append("</ul>")
    parts.append("<h2>Drill-down exports</h2><ul>")
    parts += [f'<li><a href="{_e(_rel(p, base))}">{_e(p.name)}</a></li>' for p in art.exports.values()]
    parts.append("</ul>")
    if art.notes:
        parts.append("<ul class=\"note\">" + "".join(f"<li>{_e(n)}</li>" for n in art.notes) + "</ul>")
    parts.append("<h2>Provenance</h2><table><tbody>")
    parts += [f'<tr><td class="l">{_e(k)}</td><td class="l">{_e("; ".join(v))}</td></tr>' for k, v in prov.items()]
    parts.append(f"</tbody></table></div><script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def write_html(analysis: Analysis, art: Artefacts, path: Path) -> Path:
    """Write the page to ``path`` (its figures and exports are in ``art``, beside it)."""
    path.write_text(render_html(analysis, art, path.parent))
    return path
