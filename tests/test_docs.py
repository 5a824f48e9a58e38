"""The documentation stays short, linked, and keeps its measured figures on one page.

* ``README.md`` has at most :data:`README_MAX_LINES` lines; reference material lives in ``docs/``.
* Every relative link (``[text](path)``, ``![alt](path)``) in ``README.md``, ``docs/*.md`` and
  ``genst/README.md`` points to an existing file, and a ``#fragment`` into a markdown file names
  one of its headings (GitHub's anchor rule). The one exception is ``docs/results-schema.md``,
  which is generated from the typed result class on another branch.
* A number followed by a time, memory or size unit (``13 s``, ``5 min``, ``1.5 GB``, ``5.7 MiB``,
  ``20 seconds``) appears only in ``docs/performance.md``, where each figure has its command,
  machine and date. Fenced code blocks and inline code are left out of this check, so a command
  line or a setting's literal value may carry a unit; settings in prose are written in words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "genst" / "README.md"]
MAY_BE_MISSING = {ROOT / "docs" / "results-schema.md"}
FIGURES_PAGE = ROOT / "docs" / "performance.md"

_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_UNIT = re.compile(
    r"(?<![\w.])\d(?:[\d,.]*\d)?\+?\s?"
    r"(?:ms|s|min|h|KB|MB|GB|TB|KiB|MiB|GiB|seconds?|minutes?|hours?)(?![\w/])"
)


def _prose(text: str) -> str:
    """``text`` without fenced code blocks."""
    return _FENCE.sub("", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = _CODE.sub(lambda m: m.group(0).strip("`"), heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_prose(path.read_text())):
        base = _anchor(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def _links(path: Path) -> list[str]:
    return [t for t in _LINK.findall(_prose(path.read_text())) if not _SCHEME.match(t)]


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference material to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        file_part, _, fragment = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if dest in MAY_BE_MISSING and not dest.exists():
            continue
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in _anchors(dest):
            broken.append(f"{target} (no heading #{fragment} in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {'; '.join(broken)}"


@pytest.mark.parametrize("page", [p for p in PAGES if p != FIGURES_PAGE], ids=lambda p: str(p.relative_to(ROOT)))
def test_measured_figures_only_on_the_performance_page(page):
    text = _CODE.sub("", _prose(page.read_text()))
    found = sorted({m.group(0) for m in _UNIT.finditer(text)})
    assert not found, f"{page.relative_to(ROOT)} states {found}; measured figures belong in docs/performance.md"


def test_unit_pattern_tells_figures_from_prose():
    """The third check's pattern: what it must catch and what it must leave alone."""
    caught = ["took 13 s for", "7 min 55 s", "1.5 GB peak", "5.7 MiB", "about 20 seconds", "100+ GB", "(0.64 vs 0.47 s)"]
    left = ["5 seeds", "30 one-second epochs", "3x3 sub-tiles", "images/s", "Table 3's", "h5ad", "100 um", "2 CPU cores"]
    assert all(_UNIT.search(t) for t in caught), [t for t in caught if not _UNIT.search(t)]
    assert not any(_UNIT.search(t) for t in left), [t for t in left if _UNIT.search(t)]


def test_link_checker_sees_a_broken_link(tmp_path):
    """The link and anchor rules catch a missing file and a missing heading."""
    (tmp_path / "a.md").write_text("# Top\n\n## Some `code` here\n\n[ok](a.md#some-code-here) [bad](b.md) [x](a.md#nope)\n")
    page = tmp_path / "a.md"
    assert _links(page) == ["a.md#some-code-here", "b.md", "a.md#nope"]
    assert _anchors(page) == {"top", "some-code-here"}
