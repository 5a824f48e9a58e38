"""GenST learns image -> expression on a cohort with structure; gene2gene (the oracle) does
better still. Slow: about 10 CPU-seconds."""

from __future__ import annotations

import pytest

from baselines.mean import MeanPredictor
from genst import Gene2GenePredictor, GenSTPredictor
from stbench.testing import tiny_spotdata
from stbench.torchkit.validation import mean_gene_pearson


@pytest.mark.slow
def test_genst_beats_the_mean_and_gene2gene_beats_genst() -> None:
    # 8 slides x 64 spots; each spot's redness drives both its patch colour and its expression
    data = tiny_spotdata(n_slides=8, n_spots=64, n_genes=24, seed=3)
    ids = [s.id for s in data.slides]
    train, val, test = data.subset(ids[:6]), data.subset(ids[6:7]), data.subset(ids[7:])
    truth = test.expression()
    hidden = test.hide_expression()

    def score(model) -> float:
        return mean_gene_pearson(model.fit(train, val).predict(test if model.oracle else hidden), truth)

    mean = score(MeanPredictor("small"))
    genst = score(GenSTPredictor("small", epochs=20))
    gene2gene = score(Gene2GenePredictor("small", epochs=20))
    assert mean == 0.0
    assert genst > 0.5, genst
    assert gene2gene > genst, (gene2gene, genst)
