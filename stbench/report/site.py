"""The web page's overview and model cards (the rest of the page is :mod:`stbench.report.html`).

The page opens on the **overview**: one table per metric (the metric filter picks which), a row
per model and a column per cohort (mean over folds; the paper's reported value beside it where
there is one), with each model's mean rank over the cohorts. The details (per-metric tables with
significance, figures, maps) and the **model cards** of submitted models are in other tabs. The
state (tab, cohort, metric, encoder, card) lives in the URL hash, so every view has a permalink:
``index.html#cohort=demo&metric=pearson``; ``#card=NAME`` opens a model's card.

Card text is untrusted: everything is escaped, and only http(s) URLs become links.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import numpy as np
from scipy.stats import rankdata

from stbench.metrics import metric_info
from stbench.report.analysis import Analysis
from stbench.report.collect import Board
from stbench.report.encoders import result_encoder
from stbench.report.significance import best_model
from stbench.submit.card import FIELDS, card_value, registry_encoder

TABS = (("overview", "Overview"), ("details", "Details"), ("models", "Model cards"), ("figures", "Figures & maps"))
NO_ENCODER = "none"


def _e(text: object) -> str:
    return html.escape(str(text))


def default_metric(board: Board) -> str:
    """The metric the overview shows when the filter says "all": Pearson where present."""
    return "pearson" if "pearson" in board.metrics else board.metrics[0]


def mean_ranks(board: Board, metric: str) -> dict[str, float]:
    """model -> its rank among the non-oracle models (1 = best, ties averaged), mean over the
    cohorts where it has a value; oracles are not ranked."""
    sign = 1.0 if metric_info(metric).higher_is_better else -1.0
    ranks: dict[str, list[float]] = {}
    for cohort in board.cohorts:
        means = {m: s.mean for m in board.plain if (s := board.stats(cohort, m, metric)) is not None}
        if not means:
            continue
        order = rankdata([-sign * v for v in means.values()], method="average")
        for model, rank in zip(means, order):
            ranks.setdefault(model, []).append(float(rank))
    return {m: float(np.mean(r)) for m, r in ranks.items()}


def model_encoder(analysis: Analysis, model: str) -> str:
    """The encoder of a model: its card's, else the one its results record, else "none"."""
    card = analysis.cards.get(model)
    if card is not None and isinstance(card.get("encoder"), str):
        return card["encoder"]
    for (_, m), results in analysis.board.cells.items():
        if m == model and results and (encoder := result_encoder(results[0].document)):
            return encoder
    return NO_ENCODER


def model_label(analysis: Analysis, model: str) -> str:
    """The model's name cell: a link to its card when it has one, a "submitted" badge, "(oracle)"."""
    text = _e(model)
    if model in analysis.cards:
        text = (f'<a class="card-link" href="#card={_e(quote(model, safe=""))}" title="{_e(analysis.cards[model].get("name", model))}">'
                f'{text}</a> <span class="badge">submitted</span>')
    return text + (" (oracle)" if model in analysis.board.oracles else "")


def filters(analysis: Analysis) -> str:
    """The cohort, metric and encoder selects (the page's script reads and writes them)."""
    board = analysis.board
    encoders = sorted({model_encoder(analysis, m) for m in board.models})

    def options(values) -> str:
        return "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in ["all", *values])

    nav = "".join(f'<a class="tabbtn" data-tab="{key}" href="#tab={key}">{_e(label)}</a>' for key, label in TABS)
    return ('<div class="filters"><nav class="tabs">' + nav + '</nav> cohort <select class="filter" id="f-cohort">'
            + options(board.cohorts) + '</select> metric <select class="filter" id="f-metric">' + options(board.metrics)
            + '</select> encoder <select class="filter" id="f-encoder">' + options(encoders)
            + '</select> <a id="permalink" href="#">permalink</a></div>')


def overview(analysis: Analysis) -> list[str]:
    """The overview tab: one models x cohorts table per metric (only the selected one shown)."""
    board = analysis.board
    out = ['<div class="tab" id="tab-overview">',
           f'<p class="note">Models x cohorts, mean over folds; the filter picks the metric (default '
           f'<code>{_e(default_metric(board))}</code>). Mean rank: the model\'s rank among non-oracle models per '
           "cohort (1 = best), mean over cohorts. Grey: the GenST paper's reported value, never ranked. Click a "
           "header to sort, a model to read its card; ¶ is a cohort's permalink.</p>"]
    for metric in board.metrics:
        info = metric_info(metric)
        ranks = mean_ranks(board, metric)
        default = ' data-default="1"' if metric == default_metric(board) else ""
        heads = ['<th data-sort class="l">model</th>', '<th data-sort class="l">encoder</th>',
                 '<th data-sort title="mean rank over cohorts (1 = best)">mean rank</th>']
        heads += [f'<th data-sort data-cohort="{_e(c)}">{_e(c)} <a class="perma" href="#cohort={_e(quote(c, safe=""))}&amp;metric='
                  f'{_e(quote(metric, safe=""))}" title="permalink to {_e(c)}">¶</a></th>' for c in board.cohorts]
        out.append(f'<table class="overview" data-metric="{_e(metric)}"{default}><caption><code>{_e(metric)}</code> '
                   f"{'↑' if info.higher_is_better else '↓'}</caption><thead><tr>{''.join(heads)}</tr></thead><tbody>")
        best = {c: best_model(board, c, metric) for c in board.cohorts}
        for model in sorted(board.models, key=lambda m: (m in board.oracles, ranks.get(m, np.inf), m)):
            if all(board.stats(c, model, metric) is None for c in board.cohorts):
                continue
            cells = [_overview_cell(analysis, c, model, metric, best[c]) for c in board.cohorts]
            classes = " ".join(c for c, on in (("oracle", model in board.oracles), ("submitted", model in analysis.cards)) if on)
            rank = ranks.get(model)
            out.append(f'<tr class="{classes}" data-model="{_e(model)}" data-encoder="{_e(model_encoder(analysis, model))}">'
                       f'<td class="l">{model_label(analysis, model)}</td><td class="l">{_e(model_encoder(analysis, model))}</td>'
                       + (f'<td data-v="{rank!r}">{rank:.2f}</td>' if rank is not None else '<td data-v=""></td>')
                       + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    return out + ["</div>"]


def _overview_cell(analysis: Analysis, cohort: str, model: str, metric: str, best: str | None) -> str:
    s = analysis.board.stats(cohort, model, metric)
    rep = analysis.reported_for(cohort, metric).get(model)
    paper = f'<span class="rep" title="{_e(rep.table)}">paper {_e(rep.text())}</span>' if rep is not None else ""
    if s is None:
        return f'<td data-cohort="{_e(cohort)}" data-v="">{paper}</td>'
    cls = ' class="best"' if model == best else ""
    return (f'<td{cls} data-cohort="{_e(cohort)}" data-v="{s.mean!r}" title="± {s.std:.3f} over {s.n} folds">'
            f"{s.mean:.3f}{paper}</td>")


def card_section(analysis: Analysis) -> list[str]:
    """The model cards tab: one card per submitted model, every field escaped."""
    out = ['<div class="tab" id="tab-models" hidden>']
    if not analysis.cards:
        return out + ["<p>No submitted models yet: docs/submitting.md says how to add one.</p></div>"]
    for model, card in sorted(analysis.cards.items()):
        rows = []
        for f in FIELDS:
            value = card_value(card, f.key)
            if f.kind == "authors":
                text = _e(", ".join(map(str, value)))
            elif f.kind == "url" or (f.kind == "contact" and str(value).startswith(("http://", "https://"))):
                text = _link(value)
            elif f.key == "encoder":
                text = _e(value) + (" (stbench encoder registry)" if registry_encoder(card) else "")
            elif f.kind == "bool":
                text = "yes" if value else "no"
            else:
                text = _e(value)
            rows.append(f'<tr><th class="l">{_e(f.key.replace("compute.", "compute: ").replace("_", " "))}</th>'
                        f'<td class="l" data-field="{_e(f.key)}">{text}</td></tr>')
        out.append(f'<article class="card" id="card-{_e(model)}" data-model="{_e(model)}"><h3>{_e(card.get("name", model))} '
                   f'<small>({_e(model)}, submitted)</small></h3><table><tbody>{"".join(rows)}</tbody></table></article>')
    return out + ["</div>"]


def _link(url: object) -> str:
    """An http(s) URL as a link (escaped, opened without referrer); anything else as text."""
    text = str(url)
    if not text.startswith(("http://", "https://")):
        return _e(text)
    return f'<a href="{_e(text)}" rel="noopener noreferrer nofollow">{_e(text)}</a>'


STYLE = """
nav.tabs{display:inline-block;margin-right:1em}.tabbtn{padding:.2em .6em;border:1px solid #ccc;border-radius:4px 4px 0 0;
text-decoration:none;color:#225}.tabbtn.on{background:#225;color:#fff}.badge{background:#e6f0ff;color:#124;border-radius:3px;
padding:0 .3em;font-size:.8em}tr.submitted{background:#f5fbff}.rep{display:block;color:#777;font-size:.8em}
table.overview caption{text-align:left;font-weight:bold}a.perma{text-decoration:none;color:#999}
article.card{border:1px solid #ccc;padding:.2em 1em;margin:1em 0;max-width:900px}article.card.on{outline:3px solid #7aa7e0}
"""

SCRIPT = """
(function(){
  var KEYS=['cohort','metric','encoder'];
  function num(td){var v=td.getAttribute('data-v');return v===null||v===''?NaN:parseFloat(v);}
  function sortBy(th){
    var table=th.closest('table'),i=Array.prototype.indexOf.call(th.parentNode.children,th);
    var asc=th.getAttribute('data-dir')!=='asc';th.setAttribute('data-dir',asc?'asc':'desc');
    var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
    rows.sort(function(a,b){
      var x=a.cells[i],y=b.cells[i],nx=num(x),ny=num(y);
      if(!isNaN(nx)||!isNaN(ny)){if(isNaN(nx))return 1;if(isNaN(ny))return -1;return asc?nx-ny:ny-nx;}
      return asc?x.textContent.localeCompare(y.textContent):y.textContent.localeCompare(x.textContent);
    });
    rows.forEach(function(r){body.appendChild(r);});
  }
  function val(k){return document.getElementById('f-'+k).value;}
  var tab='overview',card=null;
  function apply(){
    var c=val('cohort'),m=val('metric'),e=val('encoder');
    document.querySelectorAll('div.tab').forEach(function(d){d.hidden=d.id!=='tab-'+tab;});
    document.querySelectorAll('a.tabbtn').forEach(function(a){a.classList.toggle('on',a.dataset.tab===tab);});
    document.querySelectorAll('table.overview').forEach(function(t){
      t.hidden=m==='all'?!t.hasAttribute('data-default'):t.dataset.metric!==m;});
    document.querySelectorAll('table.overview [data-cohort]').forEach(function(x){x.hidden=!(c==='all'||x.dataset.cohort===c);});
    document.querySelectorAll('section.metric').forEach(function(s){s.hidden=!(m==='all'||s.dataset.metric===m);});
    document.querySelectorAll('tr[data-cohort]').forEach(function(r){r.hidden=!(c==='all'||r.dataset.cohort===c);});
    document.querySelectorAll('tr[data-encoder]').forEach(function(r){
      if(e!=='all'&&r.dataset.encoder!==e)r.hidden=true;else if(!r.hasAttribute('data-cohort'))r.hidden=false;});
    document.querySelectorAll('article.card').forEach(function(a){a.classList.toggle('on',a.dataset.model===card);});
    var p=new URLSearchParams();if(tab!=='overview')p.set('tab',tab);
    KEYS.forEach(function(k){if(val(k)!=='all')p.set(k,val(k));});if(card)p.set('card',card);
    document.getElementById('permalink').setAttribute('href','#'+p.toString());
    return p;
  }
  function fromHash(){
    var h=new URLSearchParams(location.hash.slice(1));
    KEYS.forEach(function(k){var v=h.get(k)||'all',s=document.getElementById('f-'+k);
      s.value=Array.prototype.some.call(s.options,function(o){return o.value===v;})?v:'all';});
    card=h.get('card');tab=card?'models':(h.get('tab')||'overview');
    if(!document.getElementById('tab-'+tab))tab='overview';
    apply();
    var el=card&&document.getElementById('card-'+card);if(el)el.scrollIntoView();
  }
  document.querySelectorAll('th[data-sort]').forEach(function(th){th.addEventListener('click',function(ev){
    if(!ev.target.closest('a'))sortBy(th);});});
  document.querySelectorAll('select.filter').forEach(function(s){s.addEventListener('change',function(){
    history.replaceState(null,'','#'+apply().toString());});});
  window.addEventListener('hashchange',fromHash);
  fromHash();
  document.body.setAttribute('data-ready','1');
})();
"""
