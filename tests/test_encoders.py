"""The encoder registry (stbench.encoders): every architecture without weights, published weights
from a hub cache written here in the hub's layout, and the one-sentence errors with the hub
unreachable (no test touches the network).

Parameter counts: an architecture passes when its count is within 1% of the published figure, or
within half a unit of the figure's last digit when that is coarser ("1.1B" allows 1.05B-1.15B,
"632M" allows 625.7M-638.3M).
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import threading
from pathlib import Path

import pytest

from stbench.encoders import EncoderConfig, create_encoder, encoder_info, list_encoders
from stbench.encoders._config import parse_count
from stbench.errors import StbenchError

ISSUE_19 = ("resnet50-trunc", "uni", "uni2-h", "conch-v1.5", "virchow", "virchow2", "h-optimus-0", "h-optimus-1",
            "h0-mini", "prov-gigapath", "phikon-v2", "hibou-l", "midnight-12k")
PUBLISHED = [n for n in list_encoders() if encoder_info(n).pretrained]
FAST_FORWARD = [n for n in list_encoders() if encoder_info(n).params_count < 100e6]
SLOW_FORWARD = [n for n in list_encoders() if 100e6 <= encoder_info(n).params_count < 1e9]
REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_registry_holds_the_issue_entries_with_their_facts():
    assert set(ISSUE_19) <= set(list_encoders())
    for name in ISSUE_19:
        cfg = encoder_info(name)
        assert cfg.hub and cfg.licence and cfg.citation and cfg.sources and cfg.params_source, name
        assert cfg.pretrained and len(cfg.mean) == len(cfg.std) == 3


def test_unknown_name_is_one_sentence_with_did_you_mean():
    with pytest.raises(StbenchError, match=r"^Unknown encoder 'uni2h'; did you mean 'uni2-h'"):
        encoder_info("uni2h")
    with pytest.raises(StbenchError, match="see `stbench encoders`"):
        create_encoder("no-such-thing")


def test_parameter_count_parsing():
    assert parse_count("1.1B") == (1_100_000_000, 100_000_000)
    assert parse_count("632M") == (632_000_000, 1_000_000)
    assert parse_count("188K") == (188_000, 1_000)


def _within_published(cfg: EncoderConfig, count: int) -> bool:
    published, unit = parse_count(cfg.params)
    return abs(count - published) <= max(0.01 * published, unit / 2)


@pytest.mark.parametrize("name", list_encoders())
def test_architecture_has_the_published_size_and_output(name):
    """Built on torch's meta device (no memory, no weights): parameter count, prefix tokens and
    the output shape of a two-image forward at the entry's input size."""
    import torch

    cfg = encoder_info(name)
    with torch.device("meta"):
        net = cfg.build(pretrained=False)
        out = net(torch.empty(2, 3, cfg.input_size, cfg.input_size))
    count = sum(p.numel() for p in net.parameters())
    assert _within_published(cfg, count), f"{name}: {count:,} parameters, published {cfg.params}"
    assert tuple(out.shape) == (2, cfg.dim)
    backbone = net.backbone
    if cfg.route == "transformers":
        prefix = 1 + getattr(backbone.config, "num_register_tokens", 0)
    else:
        prefix = getattr(getattr(backbone, "trunk", backbone), "num_prefix_tokens", 0)
    assert prefix == cfg.prefix_tokens


def _forward_twice(name: str) -> None:
    import torch

    cfg = encoder_info(name)
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    with torch.inference_mode():
        out_a = cfg.build(pretrained=False)(x)
        out_b = cfg.build(pretrained=False)(x)  # one network in memory at a time
    assert tuple(out_a.shape) == (2, cfg.dim) and torch.isfinite(out_a).all()
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)  # seeded: the same weights twice
    assert not torch.allclose(out_a[0], out_a[1])  # two different images, two different features


@pytest.mark.parametrize("name", FAST_FORWARD)
def test_small_architectures_run_two_images(name):
    _forward_twice(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW_FORWARD)
def test_large_architectures_run_two_images(name):
    """ViT-L and ViT-H entries at full size, random weights (the 1.1B ViT-g ones stay on meta)."""
    _forward_twice(name)


# ---- published weights, from a hub cache written in the hub's layout -------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty hub cache, offline: ``snapshot(repo, files)`` fills it like a download would."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def snapshot(repo: str) -> Path:
        folder = cache / f"models--{repo.replace('/', '--')}"
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(REVISION)
        (folder / "snapshots" / REVISION).mkdir(parents=True, exist_ok=True)
        return folder / "snapshots" / REVISION

    return snapshot


def _tiny(name: str, **changes) -> EncoderConfig:
    return dataclasses.replace(encoder_info(name), **changes)


def _assert_loads(cfg: EncoderConfig, reference) -> None:
    """``cfg`` built with its published weights equals ``reference`` (same weights, same output)."""
    import torch

    loaded = cfg.build(pretrained=True)
    ref_state, got_state = reference.state_dict(), loaded.state_dict()
    assert ref_state.keys() == got_state.keys()
    for key in ref_state:
        assert torch.equal(ref_state[key], got_state[key]), key
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), reference(x))
    assert cfg.weights_id() == f"{cfg.hub}@{REVISION}"


def test_timm_route_loads_pytorch_model_bin_from_the_cache(hub):
    """UNI2-h's family (ViT, 8 registers, SwiGLU, no class position embedding), one tiny block."""
    import torch

    cfg = _tiny("uni2-h", input_size=28, dim=32, seed=7, arch_kwargs={
        **encoder_info("uni2-h").arch_kwargs, "img_size": 28, "depth": 1, "num_heads": 2, "embed_dim": 32})
    reference = cfg.build(pretrained=False)
    folder = hub(cfg.hub)
    torch.save(reference.backbone.state_dict(), folder / "pytorch_model.bin")
    (folder / "config.json").write_text(json.dumps({"architecture": cfg.arch}))
    _assert_loads(cfg, reference)


def test_timm_route_loads_safetensors_and_drops_the_truncated_stage(hub):
    """HEST's truncated ResNet-50 family: the full network's file, layer4 and fc unused."""
    import timm
    import torch
    from safetensors.torch import save_file

    cfg = _tiny("resnet50-trunc", arch="resnet18", dim=256, input_size=64)
    torch.manual_seed(3)
    full = timm.create_model("resnet18", pretrained=False)
    save_file(full.state_dict(), str(hub(cfg.hub) / "model.safetensors"))
    reference = cfg.build(pretrained=False)
    reference.backbone.load_state_dict({k: v for k, v in full.state_dict().items()
                                        if not k.startswith(("layer4.", "fc."))})
    _assert_loads(cfg, reference)


def test_conch_route_loads_the_vision_tower_file(hub):
    import torch

    cfg = _tiny("conch-v1.5", input_size=64, seed=5, arch_kwargs={
        **encoder_info("conch-v1.5").arch_kwargs, "img_size": 32, "depth": 1, "num_heads": 2, "embed_dim": 32})
    reference = cfg.build(pretrained=False)
    assert {k.split(".")[0] for k in reference.backbone.state_dict()} == {
        "trunk", "attn_pool_contrast", "ln_contrast"}
    torch.save(reference.backbone.state_dict(), hub(cfg.hub) / "pytorch_model_vision.bin")
    _assert_loads(cfg, reference)  # input 64 px on a 32 px trunk: position embeddings resampled


def test_transformers_route_loads_from_pretrained_in_the_cache(hub):
    """Phikon-v2's entry as it is: transformers reads the architecture from the snapshot's
    config.json, here a one-layer DINOv2."""
    import torch
    from transformers import Dinov2Config, Dinov2Model

    cfg = encoder_info("phikon-v2")
    torch.manual_seed(11)
    tiny = Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, patch_size=16,
                                    image_size=224, intermediate_size=64))
    tiny.save_pretrained(hub(cfg.hub))
    loaded = cfg.build(pretrained=True)
    x = torch.rand(2, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), tiny.eval()(pixel_values=x).last_hidden_state[:, 0])
    assert cfg.weights_id() == f"owkin/phikon-v2@{REVISION}"


# ---- missing, gated, unreachable --------------------------------------------------------------


@pytest.mark.parametrize("name", PUBLISHED)
def test_offline_and_not_cached_is_one_sentence_naming_the_repository(hub, name):
    cfg = encoder_info(name)
    with pytest.raises(StbenchError) as info:
        cfg.build(pretrained=True)
    message = str(info.value)
    assert message.startswith("HF_HUB_OFFLINE is set") and message.count(". ") == 0
    assert f"{cfg.hub}@main" in message and f"models--{cfg.hub.replace('/', '--')}" in message
    if cfg.gated:
        assert f"https://huggingface.co/{cfg.hub}" in message and "hf auth login" in message and "HF_TOKEN" in message


def test_offline_with_the_snapshot_but_not_the_file_names_the_file(hub):
    hub("MahmoodLab/uni")
    with pytest.raises(StbenchError, match=rf"no model.safetensors or pytorch_model.bin in "
                                           rf"models--MahmoodLab--uni/snapshots/{REVISION}/"):
        create_encoder("uni", pretrained=True)


class _HubStub(http.server.BaseHTTPRequestHandler):
    """Answers every request as the hub answers a gated repository to a user without access."""

    def _gated(self) -> None:
        self.send_response(401)
        self.send_header("X-Error-Code", "GatedRepo")
        self.send_header("X-Error-Message", "Access to model is restricted.")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = _gated

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def online_hub(tmp_path, monkeypatch):
    """An empty hub cache with the hub at a local address (``None``: a closed port)."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    def endpoint(handler: type | None) -> None:
        if handler is None:
            address = "http://127.0.0.1:9"  # nothing listens: connection refused at once
            monkeypatch.setattr(_http.time, "sleep", lambda seconds: None)  # huggingface_hub retries 5 times
        else:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            address = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setattr(constants, "ENDPOINT", address)
        template = address + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)

    return endpoint


def test_gated_weights_are_one_sentence_with_the_licence_step(online_hub):
    online_hub(_HubStub)
    with pytest.raises(StbenchError, match=r"^The weights of encoder 'uni2-h' \(MahmoodLab/UNI2-h, CC-BY-NC-ND-4.0\) "
                                           r"are gated: accept the terms on https://huggingface.co/MahmoodLab/UNI2-h, "
                                           r"then log in with `hf auth login` or set HF_TOKEN"):
        create_encoder("uni2-h", pretrained=True)


def test_unreachable_hub_is_one_sentence(online_hub):
    online_hub(None)
    with pytest.raises(StbenchError, match=r"^The weights of encoder 'h-optimus-0' \(bioptimus/H-optimus-0@main\) "
                                           r"are not in the local hub cache .* could not be reached"):
        create_encoder("h-optimus-0", pretrained=True)


def test_docs_table_matches_the_registry():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "encoders.md").read_text()
    rows = {line.split("|")[1].strip(" `"): [c.strip() for c in line.split("|")[1:-1]]
            for line in doc.splitlines() if line.startswith("| `")}
    assert set(rows) == set(list_encoders())
    for name, cells in rows.items():
        cfg = encoder_info(name)
        assert cells[2] == str(cfg.dim) and cells[3].split()[0] == cfg.params and cells[4] == str(cfg.input_size)
        assert cells[6].split()[0] == cfg.pooling and (cfg.hub or "random") in cells[8]
