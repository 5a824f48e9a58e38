"""Hostile arrays: every ``.npz`` / ``.h5ad`` read is bounded before it is loaded (header shape and
dtype, expanded size), and values are checked against the bound that keeps the float16 copy finite."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from stbench.errors import StbenchError
from stbench.results import predictions as predictions_module
from stbench.results.checks import MAX_ABS_PREDICTION, matrix_problems
from stbench.results.predictions import read_slide_predictions
from stbench.submit.score import read_submitted
from stbench.untrusted import load_npz


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _header_only(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    """An ``.npy`` header declaring ``shape`` with a few bytes of data after it."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


def _npz(path: Path, members: dict[str, bytes], compress: bool = True) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        for key, data in members.items():
            archive.writestr(f"{key}.npy", data)
    return path


def _names(n: int, prefix: str) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(n)])


def _valid(n: int = 4, g: int = 3) -> dict[str, bytes]:
    return {"X": _npy_bytes(np.zeros((n, g), np.float32)), "obs_names": _npy_bytes(_names(n, "s")),
            "var_names": _npy_bytes(_names(g, "g"))}


def test_a_header_of_terabytes_is_refused_before_loading(tmp_path):
    members = {**_valid(), "X": _header_only((1_000_000, 1_000_000))}  # 3.6 TiB of float32
    path = _npz(tmp_path / "S1.npz", members)
    with pytest.raises(StbenchError, match=r"declares shape \(1000000, 1000000\)") as caught:
        read_submitted(path, (4, 3))
    assert "\n" not in str(caught.value)
    # without an expected shape (validate, report): the ceiling, and no MemoryError
    folder = tmp_path / "kept"
    folder.mkdir()
    _npz(folder / "S1.npz", members)
    with pytest.raises(StbenchError, match="unreadable"):
        read_slide_predictions(folder, "S1")


def test_a_deflate_bomb_is_refused_from_the_zip_directory(tmp_path):
    bomb = _npy_bytes(np.zeros((4000, 3000), np.float64))  # 96 MB of zeros, ~100 kB compressed
    path = _npz(tmp_path / "S1.npz", {**_valid(), "X": bomb})
    assert path.stat().st_size < 1_000_000
    with pytest.raises(StbenchError, match="expands to 96,000,128 bytes"):
        read_submitted(path, (4, 3))


def test_the_ceiling_applies_where_no_shape_is_known(tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    folder.mkdir()
    _npz(folder / "S1.npz", {**_valid(), "X": _npy_bytes(np.zeros((400, 300), np.float16))})
    monkeypatch.setattr(predictions_module, "MAX_MEMBER_BYTES", 10_000)
    with pytest.raises(StbenchError, match="more than the 10,000"):
        read_slide_predictions(folder, "S1")


def test_a_header_larger_than_its_data_is_one_sentence(tmp_path):
    path = _npz(tmp_path / "S1.npz", {**_valid(), "X": _header_only((4, 3), "<f8")[:-40]})
    with pytest.raises(StbenchError, match="more than the file holds|truncated"):
        read_submitted(path, (4, 3))


@pytest.mark.parametrize("content", [b"just some text\n", b"\x93NUMPY not really", b""], ids=["text", "npy", "empty"])
def test_a_file_that_is_not_an_npz_is_said_so(tmp_path, content):
    path = tmp_path / "S1.npz"
    path.write_bytes(content)
    with pytest.raises(StbenchError, match="is not an .npz file") as caught:
        read_submitted(path, (4, 3))
    assert "object arrays" not in str(caught.value)


def test_object_arrays_and_pickles_are_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled",))

    members = {**_valid(), "obs_names": _npy_bytes(np.array([Boom()] * 4, dtype=object))}
    path = _npz(tmp_path / "S1.npz", members)
    with pytest.raises(StbenchError, match="holds object arrays"):
        read_submitted(path, (4, 3))


def test_missing_arrays_are_named(tmp_path):
    members = _valid()
    del members["var_names"]
    with pytest.raises(StbenchError, match="lacks the array"):
        read_submitted(_npz(tmp_path / "S1.npz", members), (4, 3))


def test_names_longer_than_the_bound_are_refused(tmp_path):
    members = {**_valid(), "obs_names": _npy_bytes(np.array(["x" * 5000] * 4))}
    with pytest.raises(StbenchError, match="obs_names"):
        read_submitted(_npz(tmp_path / "S1.npz", members), (4, 3))


def test_arrays_within_bounds_read_back_exactly(tmp_path):
    x = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(4, 3))
    members = {**_valid(), "X": _npy_bytes(x)}
    for compress in (True, False):
        got = read_submitted(_npz(tmp_path / f"S{compress}.npz", members, compress), (4, 3))
        np.testing.assert_array_equal(got.X, x)
        assert list(got.obs_names) == ["s0", "s1", "s2", "s3"]
    data = load_npz(_npz(tmp_path / "plain.npz", members), {"X": 96}, optional=("none",))
    assert set(data) == {"X"}


def test_an_h5ad_declaring_a_huge_x_is_refused_before_reading(tmp_path):
    path = tmp_path / "S1.h5ad"
    with h5py.File(path, "w") as f:  # chunked and never written: a few kB on disk
        f.create_dataset("X", shape=(1_000_000, 1_000_000), dtype=np.float32, chunks=(100, 100))
    with pytest.raises(StbenchError, match=r"X declares shape \(1000000, 1000000\)"):
        read_submitted(path, (4, 3))


@pytest.mark.parametrize(
    ("value", "dtype"), [(65520.0, np.float32), (1e300, np.float64), (-2e4, np.float32), (70000.0, np.float64)]
)
def test_values_that_would_not_survive_the_float16_copy_are_refused(value, dtype):
    x = np.zeros((4, 3), dtype)
    x[1, 2] = value
    problems = matrix_problems(x, (4, 3))
    assert len(problems) == 1 and f"beyond ±{MAX_ABS_PREDICTION:g}" in problems[0]
    assert np.isfinite(np.float16(MAX_ABS_PREDICTION))  # the bound keeps the stored copy finite
    assert matrix_problems(np.full((4, 3), MAX_ABS_PREDICTION, dtype), (4, 3)) == []
