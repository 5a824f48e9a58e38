"""The frozen-encoder feature cache (stbench.torchkit.features) with the encoder registry's entries (stbench.encoders)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from stbench.data.spots import in_memory_slide
from stbench.encoders import encoder_info
from stbench.errors import StbenchError
from stbench.torchkit.features import (
    FeatureCache,
    _save_atomic,
    data_features,
    default_cache,
    encoder_key,
    features_root,
    slide_features,
    view_tiles,
)
from stbench.testing import tiny_spotdata

SMALL = encoder_info("uni-small-random")


@dataclasses.dataclass(frozen=True)
class MeanColour:
    """A fake encoder whose feature is the normalised mean colour of its input: (b, 3)."""

    name: str = "mean-colour"
    input_size: int = 16
    dim: int = 3
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def cache_id(self) -> str:
        return f"mean-colour|{self.input_size}"

    def build(self):
        import torch

        return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()


@pytest.fixture
def cache(tmp_path: Path) -> FeatureCache:
    return FeatureCache(tmp_path / "features")


@pytest.fixture(scope="module")
def slides():
    return tiny_spotdata(n_slides=2, n_spots=6, n_genes=4).slides


def test_second_run_hits_and_returns_the_same_features(cache, slides, tmp_path):
    first = cache.get(slides[0], SMALL)
    again = cache.get(slides[0], SMALL)
    assert (cache.misses, cache.hits) == (1, 1)
    assert first.shape == (slides[0].n_spots, SMALL.dim) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    other_run = FeatureCache(tmp_path / "features")
    np.testing.assert_array_equal(other_run.get(slides[0], SMALL), first)
    assert (other_run.misses, other_run.hits) == (0, 1)


def test_file_layout(cache, slides):
    slide = slides[0]
    cache.get(slide, SMALL)
    cache.get(slide, SMALL, view="subtile3x3")
    folder = cache.root / encoder_key(SMALL)
    assert encoder_key(SMALL).startswith("uni-small-random-")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["encoder.txt", f"{slide.id}-{slide.patch_key}.npy", f"{slide.id}-{slide.patch_key}-subtile3x3.npy"]
    )
    assert SMALL.cache_id() in (folder / "encoder.txt").read_text()
    assert np.load(folder / f"{slide.id}-{slide.patch_key}-subtile3x3.npy").shape == (
        slide.n_spots,
        9,
        SMALL.dim,
    )


def test_changed_patches_miss(cache, slides):
    cache.get(slides[0], SMALL)
    changed = dataclasses.replace(slides[0], patch_key="0123456789abcdef")
    cache.get(changed, SMALL)
    assert (cache.misses, cache.hits) == (2, 0)
    assert cache.path(changed, SMALL) != cache.path(slides[0], SMALL)


@pytest.mark.parametrize(
    "change", [{"seed": 1}, {"name": "renamed"}, {"input_size": 32}, {"arch_kwargs": {**SMALL.arch_kwargs, "depth": 2}}]
)
def test_changed_encoder_misses(cache, slides, change):
    other = dataclasses.replace(SMALL, **change)
    assert encoder_key(other) != encoder_key(SMALL)
    cache.get(slides[0], SMALL)
    cache.get(slides[0], other)
    assert (cache.misses, cache.hits) == (2, 0)


def test_changed_weights_change_features(cache, slides):
    a = cache.get(slides[0], SMALL)
    b = cache.get(slides[0], dataclasses.replace(SMALL, seed=1))
    assert not np.allclose(a, b)


def test_changed_view_misses(cache, slides):
    cache.get(slides[0], SMALL)
    subtiles = cache.get(slides[0], SMALL, view="subtile3x3")
    assert (cache.misses, cache.hits) == (2, 0)
    assert subtiles.shape == (slides[0].n_spots, 9, SMALL.dim)


def test_weights_identity_is_the_hub_commit_or_the_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    uni = encoder_info("uni")
    assert uni.weights_id() == "MahmoodLab/uni@main (not cached)"
    refs = tmp_path / "models--MahmoodLab--uni" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    assert uni.weights_id() == f"MahmoodLab/uni@{'a' * 40}"
    key = encoder_key(uni)
    (refs / "main").write_text("b" * 40)  # the hub's main moved and the new weights were downloaded
    assert encoder_key(uni) != key
    pinned = dataclasses.replace(uni, revision="c" * 40)
    assert pinned.weights_id() == f"MahmoodLab/uni@{'c' * 40}"
    assert SMALL.weights_id().startswith("random-seed-0-torch")


def test_unknown_view_and_encoder():
    assert view_tiles("spot") == 1 and view_tiles("subtile3x3") == 9 and view_tiles("subtile2x2") == 4
    with pytest.raises(ValueError, match="Unknown feature view"):
        view_tiles("subtile2x3")
    with pytest.raises(StbenchError, match="Unknown encoder 'nope'"):
        encoder_info("nope")


def test_subtiles_are_row_major_crops_of_the_patch(cache):
    """Each 74 px sub-tile has its own colour; sub-tile k must be region divmod(k, 3)."""
    patch = np.zeros((224, 224, 3), np.uint8)
    colours = np.arange(9 * 3, dtype=np.uint8).reshape(9, 3) * 9
    for k, colour in enumerate(colours):
        r, c = divmod(k, 3)
        patch[r * 74 : (r + 1) * 74, c * 74 : (c + 1) * 74] = colour
    slide = in_memory_slide("grid", patch[None], None, np.zeros((1, 2)))
    feats = cache.get(slide, MeanColour(), view="subtile3x3")
    np.testing.assert_allclose(feats[0], colours.astype(np.float32) / 255, atol=1e-6)
    spot = cache.get(slide, MeanColour())
    np.testing.assert_allclose(spot[0], patch.reshape(-1, 3).mean(0) / 255, atol=1e-2)  # resize edges


def test_corrupt_file_is_recomputed(cache, slides):
    good = cache.get(slides[0], SMALL)
    cache.path(slides[0], SMALL).write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(cache.get(slides[0], SMALL), good)
    assert cache.misses == 2


def test_features_are_deterministic_across_batch_sizes(tmp_path, slides):
    a = FeatureCache(tmp_path / "a").get(slides[0], SMALL, batch_size=256)
    b = FeatureCache(tmp_path / "b").get(slides[0], SMALL, batch_size=2)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_data_features_concatenate_slides(cache):
    data = tiny_spotdata(n_slides=3, n_spots=5, n_genes=2)
    feats = data_features(data, SMALL, cache=cache)
    assert feats.shape == (15, SMALL.dim)
    np.testing.assert_array_equal(feats[5:10], cache.get(data.slides[1], SMALL))


def test_root_from_environment(tmp_path, monkeypatch, slides):
    monkeypatch.setenv("STBENCH_FEATURES", str(tmp_path / "env"))
    assert features_root() == tmp_path / "env"
    assert features_root(tmp_path / "arg") == tmp_path / "arg"
    slide_features(slides[0], SMALL)
    assert default_cache().root == tmp_path / "env"
    assert (tmp_path / "env" / encoder_key(SMALL)).is_dir()


def test_concurrent_threads_leave_a_valid_file(tmp_path, slides):
    root = tmp_path / "features"
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(FeatureCache(root).get(slides[1], SMALL, view="subtile3x3"))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    path = FeatureCache(root).path(slides[1], SMALL, "subtile3x3")
    np.testing.assert_array_equal(np.load(path), results[0])
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".tmp"] == []


def _write_many(path: str, value: float, times: int) -> None:
    for _ in range(times):
        _save_atomic(Path(path), np.full((500, 1024), value, np.float32))


def test_concurrent_processes_never_expose_a_partial_file(tmp_path):
    path = tmp_path / "key.npy"
    ctx = multiprocessing.get_context("fork")
    writers = [ctx.Process(target=_write_many, args=(str(path), v, 15)) for v in (1.0, 2.0)]
    for w in writers:
        w.start()
    seen = 0
    while any(w.is_alive() for w in writers):
        try:
            arr = np.load(path)
        except FileNotFoundError:
            continue
        assert arr.shape == (500, 1024) and arr[0, 0] in (1.0, 2.0) and (arr == arr[0, 0]).all()
        seen += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert np.load(path)[0, 0] in (1.0, 2.0)
    assert [p.name for p in tmp_path.iterdir()] == ["key.npy"]


def test_encoders_are_not_built_at_import():
    code = (
        "import sys; import stbench.torchkit.features, stbench.encoders, baselines.encoders, baselines.deepspot, "
        "baselines.uni_mlp, baselines.ridge; print('timm' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_missing_pretrained_weights_give_one_sentence_and_no_file(cache, slides, monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    uni = encoder_info("uni")
    with pytest.raises(StbenchError, match=r"^HF_HUB_OFFLINE is set .* encoder 'uni' .*MahmoodLab/uni@main"):
        cache.get(slides[0], uni)
    assert cache.misses == 0 and not cache.path(slides[0], uni).exists()


def test_bf16_is_keyed_apart_and_ignored_on_cpu(cache, slides):
    slide = slides[0]
    assert cache.path(slide, SMALL, bf16=True) != cache.path(slide, SMALL)
    cache.get(slide, SMALL, bf16=True)  # on the CPU: float32, the float32 file
    assert cache.path(slide, SMALL).exists() and not cache.path(slide, SMALL, bf16=True).exists()


def test_prefetching_workers_give_the_same_features(tmp_path, slides):
    a = FeatureCache(tmp_path / "a").get(slides[1], SMALL, batch_size=2)
    b = FeatureCache(tmp_path / "b").get(slides[1], SMALL, batch_size=2, workers=2)
    np.testing.assert_array_equal(a, b)
