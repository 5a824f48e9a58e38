"""GenST and gene2gene: losses by hand, shapes, image-only inference, artefacts, resumption,
conformance."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genst.predictor
from genst import PAPER, SMALL, Gene2GenePredictor, GenSTModel, GenSTPredictor
from genst.losses import genst_loss, genst_loss_terms
from genst.modules import GeneOutput, GenSTOutput, ImageOutput, vector_quantise
from stbench.check import check_predictor
from stbench.errors import ExpressionHiddenError, StbenchError
from stbench.testing import tiny_split


@pytest.fixture(scope="module")
def split():
    return tiny_split(0)


@pytest.fixture(scope="module")
def fitted(split, tmp_path_factory) -> GenSTPredictor:
    train, val, _ = split
    return GenSTPredictor("small", seed=0, workdir=tmp_path_factory.mktemp("genst")).fit(train, val)


# --- losses -----------------------------------------------------------------------------------


def _output(**tensors: torch.Tensor) -> GenSTOutput:
    """A GenSTOutput holding just the tensors the loss reads."""
    none = torch.zeros(0)
    vq = tensors.get("vq", torch.zeros(()))
    gene = GeneOutput(tensors["c_g"], tensors["z_g"], tensors["x_hat_g"], none)
    image = ImageOutput(tensors["c_i"], none, none, none, tensors["x_hat_i"], none)
    return GenSTOutput(gene, image, tensors["z_ig"], tensors["x_tilde_g"], vq)


def test_each_loss_term_matches_a_hand_computation() -> None:
    t = {
        "x_hat_g": torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]),
        "x_tilde_g": torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]),
        "z_g": torch.tensor([[1.0, 0.0], [0.0, 2.0]]),
        "z_ig": torch.tensor([[0.0, 0.0], [0.0, 0.0]]),
        "c_g": torch.tensor([[1.0, 0.0], [0.6, 0.8]]),
        "c_i": torch.tensor([[0.0, 1.0], [0.6, 0.8]]),
        "x_hat_i": torch.ones(2, 3, 2, 2),
    }
    x_g = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
    x_i = torch.zeros(2, 3, 2, 2)
    terms = genst_loss_terms(_output(**t), x_i, x_g)
    # per-element means: sum of squared errors / (batch x elements)
    assert terms["gene"].item() == pytest.approx((0 + 1 + 1 + 0 + 0 + 1) / 6)  # L_g
    assert terms["cm"].item() == pytest.approx((1 + 1 + 1 + 1 + 0 + 1) / 6)  # L_cm
    assert terms["image"].item() == pytest.approx(1.0)  # L_i: every pixel off by 1
    assert terms["align"].item() == pytest.approx((1 + 0 + 0 + 4) / 4)  # L_align
    # L_coef: 1 - cos; orthogonal pair -> 1, identical pair -> 0; mean over the batch
    assert terms["coef"].item() == pytest.approx((1.0 + 0.0) / 2)
    total = genst_loss(terms, SMALL).item()
    assert total == pytest.approx(1.0 + 3 / 6 + 1.0 * 5 / 6 + 0.1 * 5 / 4 + 0.1 * 0.5)  # L_i + L_g + ...


def test_coefficient_loss_is_scale_invariant() -> None:
    c = torch.tensor([[0.2, 0.3, 0.5]])
    t = {
        "x_hat_g": torch.zeros(1, 1),
        "x_tilde_g": torch.zeros(1, 1),
        "z_g": torch.zeros(1, 1),
        "z_ig": torch.zeros(1, 1),
        "c_g": c,
        "c_i": 3 * c,
        "x_hat_i": torch.zeros(1, 3, 1, 1),
    }
    terms = genst_loss_terms(_output(**t), torch.zeros(1, 3, 1, 1), torch.zeros(1, 1))
    assert terms["coef"].item() == pytest.approx(0.0, abs=1e-6)


# --- architecture -----------------------------------------------------------------------------


def test_shapes_through_both_branches_small() -> None:
    torch.manual_seed(0)
    model = GenSTModel(16, SMALL).eval()
    images, expression = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    out = model(images, expression)
    k, h = SMALL.n_atoms, 8  # 32 px at stride 4
    assert out.gene.coefficients.shape == (2, k) and out.gene.latent.shape == (2, SMALL.gene_latent_dim)
    assert out.gene.reconstruction.shape == (2, 16)
    assert out.image.coefficients.shape == (2, k) and out.image.attention.shape == (2, h, h)
    assert out.image.spatial_coefficients.shape == (2, k, h, h)
    assert out.image.spatial_latent.shape == (2, SMALL.image_latent_dim, h, h)
    assert out.image.reconstruction.shape == (2, 3, 32, 32)
    assert out.cross_latent.shape == (2, SMALL.gene_latent_dim) and out.cross_reconstruction.shape == (2, 16)
    # coefficients live on the simplex; attention weights sum to one over positions
    for c in (out.gene.coefficients, out.image.coefficients):
        torch.testing.assert_close(c.sum(1), torch.ones(2))
    torch.testing.assert_close(out.image.spatial_coefficients.sum(1), torch.ones(2, h, h))
    torch.testing.assert_close(out.image.attention.flatten(1).sum(1), torch.ones(2))
    # c_i is the attention-weighted sum of the per-position coefficient vectors X_hw
    features = model.image.encoder.features(images)
    x = model.image.encoder.global_head(features).softmax(1)
    manual = (out.image.attention[:, None] * x).sum((2, 3))
    torch.testing.assert_close(out.image.coefficients, manual)
    # z = B c and the cross-modal path reuses the gene codebook and decoder
    torch.testing.assert_close(out.gene.latent, out.gene.coefficients @ model.gene.codebook.weight.T)
    torch.testing.assert_close(out.cross_latent, out.image.coefficients @ model.gene.codebook.weight.T)
    torch.testing.assert_close(model.predict(images), out.cross_reconstruction)


def test_paper_architecture_gives_a_7x7_map_and_224px_reconstruction() -> None:
    model = GenSTModel(10, replace(PAPER, pretrained=False)).eval()
    with torch.no_grad():
        features = model.image.encoder.features(torch.zeros(1, 3, 224, 224))
        out = model.image(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 2048, 7, 7)
    assert out.spatial_latent.shape == (1, 256, 7, 7) and out.reconstruction.shape == (1, 3, 224, 224)


class _Forbidden(torch.nn.Module):
    def forward(self, *args):
        raise AssertionError("the gene encoder ran at inference")


def test_inference_never_runs_the_gene_encoder(fitted: GenSTPredictor, split, monkeypatch) -> None:
    _, _, test = split
    before = fitted.predict(test.hide_expression())
    monkeypatch.setattr(fitted.model_.gene, "encoder", _Forbidden())
    after = fitted.predict(test.hide_expression())
    np.testing.assert_array_equal(before, after)


# --- artefacts --------------------------------------------------------------------------------


def test_codebook_csv_lists_top_genes_of_every_atom(fitted: GenSTPredictor, split) -> None:
    with (fitted.workdir / "codebook_top_genes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == SMALL.n_atoms * SMALL.n_top_genes
    assert set(rows[0]) == {"atom", "rank", "gene", "value"}
    first = [r for r in rows if r["atom"] == "0"]
    values = [float(r["value"]) for r in first]
    assert values == sorted(values, reverse=True) and {r["gene"] for r in first} <= set(split[0].genes)


def test_predict_writes_reconstruction_grids(fitted: GenSTPredictor, split) -> None:
    _, _, test = split
    fitted.predict(test.hide_expression())
    png = fitted.workdir / "reconstructions" / f"{test.slides[0].id}.png"
    with Image.open(png) as im:
        assert im.size == (SMALL.n_reconstructions * 32, 2 * 32)


# --- checkpoints ------------------------------------------------------------------------------


def test_interrupted_fit_resumes_to_the_same_model(split, tmp_path: Path, monkeypatch) -> None:
    train, val, test = split
    kwargs = dict(seed=0, epochs=3, patience=10)
    reference = GenSTPredictor("small", workdir=tmp_path / "a", **kwargs).fit(train, val).predict(test)

    real_loss, calls = genst.predictor.genst_loss, {"n": 0}

    def crash_in_epoch_3(terms, cfg):
        calls["n"] += 1
        if calls["n"] == 3:  # one batch per epoch on the tiny cohort
            raise KeyboardInterrupt
        return real_loss(terms, cfg)

    monkeypatch.setattr(genst.predictor, "genst_loss", crash_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        GenSTPredictor("small", workdir=tmp_path / "b", **kwargs).fit(train, val)
    monkeypatch.setattr(genst.predictor, "genst_loss", real_loss)
    resumed = GenSTPredictor("small", workdir=tmp_path / "b", **kwargs).fit(train, val)
    assert [h["epoch"] for h in resumed.state_.history] == [0, 1, 2, 3]
    np.testing.assert_allclose(resumed.predict(test), reference, rtol=1e-5, atol=1e-6)


# --- conformance and gene2gene ----------------------------------------------------------------


def test_genst_conforms() -> None:
    check_predictor(GenSTPredictor)


def test_gene2gene_conforms_and_is_an_oracle(split) -> None:
    check_predictor(Gene2GenePredictor)
    assert Gene2GenePredictor.oracle and not GenSTPredictor.oracle
    train, val, test = split
    model = Gene2GenePredictor("small").fit(train, val)
    with pytest.raises(ExpressionHiddenError):
        model.predict(test.hide_expression())


def test_gene2gene_uses_genst_gene_branch_settings() -> None:
    for profile in ("small", "paper"):
        own = Gene2GenePredictor.profiles[profile]
        assert own and all(GenSTPredictor.profiles[profile][k] == v for k, v in own.items())


# --- the training recipe ----------------------------------------------------------------------


@pytest.mark.parametrize("cls", [GenSTPredictor, Gene2GenePredictor])
def test_untrained_model_predicts_the_training_mean(cls, split) -> None:
    train, _, test = split
    model = cls("small", epochs=0).fit(train)
    data = test if cls.oracle else test.hide_expression()
    pred = model.predict(data)
    np.testing.assert_allclose(pred, np.broadcast_to(train.expression().mean(axis=0), pred.shape), atol=1e-5)


def test_fit_report_records_the_early_stopping_run(fitted: GenSTPredictor) -> None:
    report = fitted.fit_report
    assert report["val_score"] == "pearson_gene" and report["stopped"] in ("early", "max_epochs")
    assert len(report["val_curve"]) == report["epochs_run"] + 1
    assert report["val_curve"][0] == 0.0  # epoch 0 predicts the mean: no per-gene information
    assert report["val_curve"][report["best_epoch"]] == max(report["val_curve"])


# --- discrete coefficients (VQ) ---------------------------------------------------------------


def test_vector_quantise_picks_the_nearest_atom_straight_through() -> None:
    atoms = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    z = torch.tensor([[0.9, 0.2], [0.1, 1.5]], requires_grad=True)
    q = vector_quantise(z, atoms, commitment=0.25)
    assert q.index.tolist() == [1, 2]
    torch.testing.assert_close(q.latent, torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    sq = ((atoms[q.index] - z.detach()) ** 2).mean()
    assert q.loss.item() == pytest.approx(1.25 * sq.item())
    q.latent.sum().backward()  # straight-through: the gradient reaches z unchanged
    torch.testing.assert_close(z.grad, torch.ones(2, 2))
    maps = vector_quantise(torch.randn(2, 2, 3, 3), atoms, commitment=0.25)
    assert maps.latent.shape == (2, 2, 3, 3) and maps.index.shape == (2, 3, 3)


def test_vq_coefficients_snap_every_latent_to_an_atom() -> None:
    torch.manual_seed(0)
    cfg = replace(SMALL, coefficients="vq")
    model = GenSTModel(16, cfg).eval()
    out = model(torch.randn(4, 3, 32, 32), torch.rand(4, 16))
    gene_atoms = model.gene.codebook.atoms
    for latent in (out.gene.latent, out.cross_latent):
        assert all(torch.isclose(gene_atoms, row).all(dim=1).any() for row in latent)
    position = out.image.spatial_latent[0, :, 0, 0]
    assert torch.isclose(model.image.codebook.atoms, position).all(dim=1).any()
    assert out.vq_loss.item() > 0 and out.gene.vq_loss.item() > 0
    terms = genst_loss_terms(out, torch.zeros(4, 3, 32, 32), torch.zeros(4, 16))
    assert terms["vq"] is out.vq_loss
    assert GenSTModel(16, SMALL)(torch.randn(2, 3, 32, 32), torch.rand(2, 16)).vq_loss.item() == 0.0


def test_vq_genst_trains_and_predicts_one_decoded_atom_per_spot(split) -> None:
    train, val, test = split
    model = GenSTPredictor("small", coefficients="vq", epochs=2).fit(train, val)
    pred = model.predict(test.hide_expression())
    assert np.isfinite(pred).all()
    with torch.no_grad():
        decoded = model.model_.gene.decode(model.model_.gene.codebook.atoms).numpy()
    distances = np.abs(pred[:, None, :] - decoded[None]).max(axis=2)
    assert (distances.min(axis=1) < 1e-4).all()


def test_unknown_coefficients_is_a_clear_error() -> None:
    with pytest.raises(StbenchError, match="Unknown coefficients 'gumbel'"):
        GenSTModel(4, replace(SMALL, coefficients="gumbel"))
