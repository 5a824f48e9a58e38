"""Callers branch on the type of an error, never on its message text."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from stbench.errors import StbenchError
from stbench.results.document import (
    OlderSchemaError,
    ResultDocumentError,
    read_result_file,
    stale_notice,
)
from stbench.submit.score import read_submitted
from stbench.torchkit.backbones import _refused_access


def _http_error(cls, status: int):
    return cls("refused", response=SimpleNamespace(status_code=status, headers={}, request=None))


def test_refused_hub_access_is_recognised_by_type_and_status():
    assert _refused_access(_http_error(HfHubHTTPError, 401))
    assert _refused_access(_http_error(GatedRepoError, 404))
    try:  # wrapped by the library that called the hub
        try:
            raise _http_error(HfHubHTTPError, 403)
        except HfHubHTTPError as inner:
            raise RuntimeError("could not load") from inner
    except RuntimeError as outer:
        assert _refused_access(outer)
    assert not _refused_access(_http_error(HfHubHTTPError, 404))
    assert not _refused_access(OSError("gated 401 403"))  # words in a message mean nothing


def test_older_schema_results_are_a_type_of_their_own(tmp_path):
    path = tmp_path / "results" / "demo" / "mean" / "fold0.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": 1, "cohort": {"name": "demo"}, "model": {"name": "mean"}, "fold": 0}))
    with pytest.raises(OlderSchemaError, match="stbench rescore --results"):
        read_result_file(path)
    assert read_result_file(path, any_schema=True).model == "mean"
    assert any("older results schema" in line for line in stale_notice(tmp_path / "results"))
    path.write_text("{not json")
    with pytest.raises(ResultDocumentError) as caught:
        read_result_file(path)
    assert not isinstance(caught.value, OlderSchemaError)
    assert stale_notice(tmp_path / "results") == []


def test_object_arrays_in_a_submission_are_found_from_their_dtype(tmp_path):
    x = np.zeros((2, 3), np.float32)
    np.savez(tmp_path / "bad.npz", X=x, obs_names=np.array(["a", "b"], dtype=object), var_names=np.array(["g1", "g2", "g3"]))
    with pytest.raises(StbenchError, match="holds object arrays"):
        read_submitted(tmp_path / "bad.npz")
    np.savez(tmp_path / "good.npz", X=x, obs_names=np.array(["a", "b"]), var_names=np.array(["g1", "g2", "g3"]))
    assert list(read_submitted(tmp_path / "good.npz").obs_names) == ["a", "b"]
