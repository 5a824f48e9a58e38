"""The leaderboard: markdown with figures and drill-down CSVs, and a self-contained web page.

``write_report(results, out, html=...)`` is what ``stbench report`` calls. Modules:
:mod:`~stbench.report.collect` (loading), :mod:`~stbench.report.stats` and
:mod:`~stbench.report.significance` (tests), :mod:`~stbench.report.reference` (the paper's
reported values), :mod:`~stbench.report.figures`, :mod:`~stbench.report.exports`,
:mod:`~stbench.report.markdown`, :mod:`~stbench.report.html`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from stbench.report.analysis import Analysis, analyse, write_artefacts
from stbench.report.markdown import render_markdown


def render_report(results_dir: Path) -> str:
    """The leaderboard's tables as markdown (no figures or exports)."""
    return render_markdown(analyse(results_dir))


def write_report(
    results_dir: Path,
    out: Path | None,
    *,
    html: Path | None = None,
    root: Path | None = None,
    analysis: Analysis | None = None,
    on_note: Callable[[str], object] | None = None,
) -> str:
    """Render the leaderboard; returns the markdown.

    With ``out``: writes it there, with ``figures/`` and ``exports/`` beside it. With ``html``:
    writes ``html/index.html`` (and its own ``figures/``/``exports/`` unless it is ``out``'s
    folder). ``root`` is the data root holding the prepared cohorts (truth for drill-downs).
    ``analysis``: ``analyse(results_dir, root=root)`` when the caller already has it. ``on_note`` is
    called once with each note on what was left out (result files that are unreadable or not valid,
    by name; figures without prepared data or saved predictions).
    """
    analysis = analysis if analysis is not None else analyse(results_dir, root=root)
    art = None
    text = render_markdown(analysis)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        art = write_artefacts(analysis, out.parent, root)
        text = render_markdown(analysis, art, out.parent)
        out.write_text(text + "\n")
    if html is not None:
        from stbench.report.html import write_html

        html = Path(html)
        html.mkdir(parents=True, exist_ok=True)
        page_art = art if art is not None and art.folder.resolve() == html.resolve() else write_artefacts(
            analysis, html, root)
        write_html(analysis, page_art, html / "index.html")
        art = art or page_art
    if on_note is not None:
        for note in dict.fromkeys([*analysis.board.left_out, *(art.notes if art is not None else [])]):
            on_note(note)
    return text


__all__ = ["render_report", "write_report"]
