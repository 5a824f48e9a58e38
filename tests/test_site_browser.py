"""The leaderboard site with one submission, in a real headless Chromium (as tests/test_html_browser.py):
the page opens on the overview, the submission appears marked and with its card, the filters and
the sorting work (driven by a script added to a copy of the page, as a visitor's clicks), the
permalink follows the filters, and nothing is logged to the console.
"""

import html
import json
import re
import shutil

import pytest

from stbench.cli import main
from stbench.results.document import SCHEMA_VERSION, model_entry, result_path, write_json_atomic
from tests.submit_helpers import mean_submission
from tests.test_html_browser import _browse, chromium  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

REFERENCE = {"genst": None, "stnet": "uni-small-random", "gene2gene": None}


def _reference(folder):
    """Reference results of three models on demo (gene2gene an oracle, stnet with an encoder)."""
    for i, (model, encoder) in enumerate(REFERENCE.items()):
        for k in range(5):
            v = 0.70 + 0.04 * i + 0.01 * k
            write_json_atomic(result_path(folder, "demo", model_entry(model, {"encoder": encoder} if encoder else None), k), {
                "schema_version": SCHEMA_VERSION, "stbench_version": "0.1.0", "git_sha": "abc", "metrics_version": 1,
                "model": {"name": model, "oracle": model == "gene2gene", "profile": "small",
                          "settings": {"encoder": encoder} if encoder else {}},
                "cohort": {"name": "demo", "revision": "rev1", "train_slides": ["a"] * 7, "val_slides": ["b"],
                           "test_slides": [f"S{k}"]},
                "fold": k, "seed": 0, "metrics": {"pearson": v, "pearson_gene": v / 2, "l1": 1 - v},
                "per_slide": {f"S{k}": {"pearson": v, "pearson_gene": v / 2, "l1": 1 - v, "n_spots": 10}},
            })


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    submission = mean_submission(tmp_path_factory)
    base = tmp_path_factory.mktemp("site")
    _reference(base / "results")
    out = base / "site"
    assert main(["report", "--results", str(base / "results"), "--submissions", str(submission.parent),
                 "--html", str(out)]) == 0
    return out / "index.html", submission.name


def _overview(dom, metric):
    return re.search(rf'<table class="overview" data-metric="{metric}".*?</table>', dom, re.S).group(0)


def test_opens_on_the_overview_with_the_submission_and_its_card(chromium, site):  # noqa: F811
    page, name = site
    dom, messages = _browse(chromium, page.as_uri(), "--dump-dom")
    assert messages == [] and 'data-ready="1"' in dom
    assert re.search(r'<div class="tab" id="tab-overview">', dom)  # shown
    assert re.search(r'<div class="tab" id="tab-details" hidden', dom)
    table = _overview(dom, "pearson")
    assert "hidden" not in table.split(">", 1)[0]
    row = re.search(rf'<tr class="submitted" data-model="{name}".*?</tr>', table, re.S).group(0)
    assert f'href="#card={name}"' in row and "submitted" in row
    assert re.search(r'<tr class="oracle" data-model="gene2gene"', table)

    dom, messages = _browse(chromium, page.as_uri() + f"#card={name}", "--dump-dom")
    assert messages == []
    assert re.search(r'<div class="tab" id="tab-models">', dom)  # the card's tab is open
    card = re.search(rf'<article class="card on" id="card-{name}".*?</article>', dom, re.S).group(0)
    assert "Mean expression (exported training slides)" in card
    assert '<a href="https://github.com/example/mean-ext" rel="noopener noreferrer nofollow">' in card
    assert "MIT" in card and "none (CPU)" in card


def test_filters_from_the_url(chromium, site):  # noqa: F811
    page, name = site
    dom, messages = _browse(chromium, page.as_uri() + "#metric=l1&encoder=uni-small-random", "--dump-dom")
    assert messages == []
    assert re.search(r'<table class="overview" data-metric="pearson"[^>]*hidden', dom)
    table = _overview(dom, "l1")
    assert re.search(r'<tr class="" data-model="stnet@uni-small-random"[^>]*>', table).group(0).count("hidden") == 0
    assert re.search(rf'<tr class="submitted" data-model="{name}"[^>]*hidden', table)
    assert re.search(r'<section class="metric" data-metric="pearson"[^>]*hidden', dom)


DRIVER = """<script>
(function(){
  var out={};
  function order(){return Array.prototype.map.call(
    document.querySelectorAll('table.overview[data-metric="pearson"] tbody tr'),function(r){return r.dataset.model;}).join(',');}
  var th=document.querySelector('table.overview[data-metric="pearson"] th[data-cohort="demo"]');
  th.click();out.asc=order();th.click();out.desc=order();
  var s=document.getElementById('f-encoder');s.value='none';s.dispatchEvent(new Event('change'));
  out.hash=location.hash;
  out.shown=Array.prototype.filter.call(document.querySelectorAll('table.overview[data-metric="pearson"] tbody tr'),
    function(r){return !r.hidden;}).map(function(r){return r.dataset.model;}).join(',');
  document.querySelector('a.tabbtn[data-tab="details"]').click();
  setTimeout(function(){out.details=!document.getElementById('tab-details').hidden;
    document.body.setAttribute('data-driver',JSON.stringify(out));},50);
})();
</script></body>"""


def test_sorting_and_filter_clicks(chromium, site):  # noqa: F811
    page, name = site
    driven = page.with_name("driven.html")
    driven.write_text(page.read_text().replace("</body>", DRIVER))
    dom, messages = _browse(chromium, driven.as_uri(), "--dump-dom")
    assert messages == []
    out = json.loads(html.unescape(re.search(r'data-driver="([^"]*)"', dom).group(1)))
    # demo's pearson: genst 0.72, stnet 0.76, gene2gene 0.80 (oracle), mean-ext about 0.81
    asc, desc = out["asc"].split(","), out["desc"].split(",")
    assert desc == asc[::-1] and set(asc) == {name, *(model_entry(m, {"encoder": e} if e else None) for m, e in REFERENCE.items())}
    assert asc == ["genst", "stnet@uni-small-random", "gene2gene", name]
    assert out["hash"] == "#encoder=none"
    assert set(out["shown"].split(",")) == {name, "genst", "gene2gene"}
    assert out["details"] is True


def test_screenshot(chromium, site, tmp_path):  # noqa: F811
    page, _ = site
    shot = tmp_path / "site.png"
    _browse(chromium, page.as_uri(), f"--screenshot={shot}", "--window-size=1280,900")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_card_text_is_escaped(chromium, tmp_path):  # noqa: F811
    """A hostile card (markup in its text, a quote in its URL) renders as text; no script of it runs."""
    from tests.submit_helpers import CARD

    _reference(tmp_path / "results")
    sub = tmp_path / "submissions" / "evil"
    _reference(sub / "results")
    for path in list((sub / "results" / "demo").iterdir()):
        if path.name == "genst":
            path.rename(path.with_name("evil"))
        else:
            shutil.rmtree(path)
    for path in (sub / "results" / "demo" / "evil").glob("*.json"):
        path.write_text(path.read_text().replace('"name": "genst"', '"name": "evil"'))
    (sub / "card.toml").write_text(CARD.replace('"Mean expression (exported training slides)"',
                                                "'<img src=x onerror=\"console.error(1)\">'")
                                   .replace('"MIT"', "'</td><script>console.error(2)</script>'"))
    out = tmp_path / "site"
    assert main(["report", "--results", str(tmp_path / "results"), "--submissions", str(sub.parent),
                 "--html", str(out)]) == 0
    text = (out / "index.html").read_text()
    assert "<script>console.error" not in text and "<img src=x" not in text
    assert "&lt;img src=x onerror=&quot;console.error(1)&quot;&gt;" in text
    dom, messages = _browse(chromium, (out / "index.html").as_uri() + "#card=evil", "--dump-dom")
    assert messages == [] and 'id="card-evil"' in dom
