"""Model identity and LoRA adapters: hashes, round trips, and refusal of tampered bytes."""

import copy
import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from verifier.models import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_WEIGHTS_FILE,
    AdapterMismatchError,
    ModelError,
    adapter_from_bytes,
    adapter_hash,
    adapter_to_bytes,
    load_adapter,
    load_model,
    model_hash,
    new_adapter,
    save_adapter,
    tiny_model,
)


def _trained_adapter(seed=0):
    """A tiny model with an adapter whose lora_B is non-zero (as after training)."""
    model, tokenizer = tiny_model(seed)
    peft_model = new_adapter(model, rank=4, seed=seed + 1)
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed + 2)
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.05)
    return peft_model, tokenizer


def test_model_hash_encoding_is_pinned():
    # A fixed module: this value only changes if the canonical encoding changes.
    lin = torch.nn.Linear(2, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6, dtype=torch.float32).reshape(3, 2))
        lin.bias.copy_(torch.tensor([0.5, -1.0, 2.0]))
    assert model_hash(lin).hex() == "b14214a0b06c8f37d79459c9de91305afddcc508437efe2a7761f7adfd659773"


def test_model_hash_is_stable_and_seed_sensitive():
    a, _ = tiny_model(0)
    b, _ = tiny_model(0)
    c, _ = tiny_model(1)
    assert len(model_hash(a)) == 32
    assert model_hash(a) == model_hash(b) == model_hash(copy.deepcopy(a))
    assert model_hash(a) != model_hash(c)


def test_model_hash_changes_with_any_single_weight_or_dtype():
    model, _ = tiny_model(0)
    before = model_hash(model)
    param = dict(model.named_parameters())["model.layers.1.mlp.down_proj.weight"]
    with torch.no_grad():
        param[3, 7] = torch.nextafter(param[3, 7], torch.tensor(float("inf")))  # one ulp
    assert model_hash(model) != before
    with torch.no_grad():
        param[3, 7] = torch.nextafter(param[3, 7], torch.tensor(float("-inf")))
    assert model_hash(model) == before
    assert model_hash(model.to(torch.bfloat16)) != before


def test_attaching_an_adapter_keeps_the_base_hash():
    model, _ = tiny_model(0)
    base = model_hash(model)
    peft_model, _ = _trained_adapter(0)
    assert model_hash(peft_model) == base


def test_new_adapter_is_seeded_and_starts_as_the_base(tokenizer):
    model, _ = tiny_model(0)
    ids = torch.tensor([tokenizer.encode("Calculate 3 + 4.")])
    with torch.no_grad():
        base_logits = model(ids).logits
    a = new_adapter(model, rank=4, seed=5)
    with torch.no_grad():
        assert torch.equal(a(ids).logits, base_logits)  # lora_B = 0
    assert adapter_hash(new_adapter(tiny_model(0)[0], rank=4, seed=5)) == adapter_hash(a)
    assert adapter_hash(new_adapter(tiny_model(0)[0], rank=4, seed=6)) != adapter_hash(a)


def test_adapter_save_load_round_trip_reproduces_outputs(tmp_path, tokenizer):
    peft_model, _ = _trained_adapter(0)
    digest = save_adapter(peft_model, tmp_path / "a")
    assert digest == adapter_hash(tmp_path / "a") == adapter_hash(peft_model)
    loaded = load_adapter(tiny_model(0)[0], tmp_path / "a", expected_hash=digest)
    assert adapter_hash(loaded) == digest
    ids = torch.tensor([tokenizer.encode("Calculate 3 + 4.")])
    with torch.no_grad():
        assert torch.equal(loaded(ids).logits, peft_model(ids).logits)


def test_load_adapter_rejects_a_changed_tensor(tmp_path):
    peft_model, _ = _trained_adapter(0)
    digest = save_adapter(peft_model, tmp_path / "a")
    weights = load_file(str(tmp_path / "a" / ADAPTER_WEIGHTS_FILE))
    name = sorted(k for k in weights if "lora_B" in k)[0]
    weights[name] = weights[name].clone()
    weights[name][0, 0] += 1e-6
    save_file(weights, str(tmp_path / "a" / ADAPTER_WEIGHTS_FILE))
    with pytest.raises(AdapterMismatchError, match="refusing to load"):
        load_adapter(tiny_model(0)[0], tmp_path / "a", expected_hash=digest)


def test_load_adapter_rejects_a_changed_config(tmp_path):
    peft_model, _ = _trained_adapter(0)
    digest = save_adapter(peft_model, tmp_path / "a")
    path = tmp_path / "a" / ADAPTER_CONFIG_FILE
    config = json.loads(path.read_text())
    config["lora_alpha"] = config["lora_alpha"] * 2  # same bytes of weights, twice the effect
    path.write_text(json.dumps(config))
    with pytest.raises(AdapterMismatchError):
        load_adapter(tiny_model(0)[0], tmp_path / "a", expected_hash=digest)


def test_adapter_config_fields_outside_the_hash_are_refused_or_ignored(tmp_path):
    peft_model, _ = _trained_adapter(0)
    digest = save_adapter(peft_model, tmp_path / "a")
    path = tmp_path / "a" / ADAPTER_CONFIG_FILE
    config = json.loads(path.read_text())
    config["use_rslora"] = True  # would rescale the adapter without changing the hashed fields
    path.write_text(json.dumps(config))
    with pytest.raises(ModelError, match="plain LoRA"):
        load_adapter(tiny_model(0)[0], tmp_path / "a", expected_hash=digest)
    config["use_rslora"] = False
    config["base_model_name_or_path"] = "anything"  # descriptive only: same hash, loads
    path.write_text(json.dumps(config))
    assert adapter_hash(load_adapter(tiny_model(0)[0], tmp_path / "a", expected_hash=digest)) == digest


def test_adapter_blob_round_trip_and_tamper_rejection(tmp_path):
    peft_model, _ = _trained_adapter(0)
    digest = adapter_hash(peft_model)
    blob = adapter_to_bytes(peft_model)
    assert adapter_from_bytes(blob, tmp_path / "ok", expected_hash=digest) == digest
    assert adapter_hash(tmp_path / "ok") == digest
    assert adapter_to_bytes(tmp_path / "ok") == blob  # same content, same blob
    tampered = bytearray(blob)
    tampered[-5] ^= 0x01  # inside the last tensor's data
    with pytest.raises(AdapterMismatchError):
        adapter_from_bytes(bytes(tampered), tmp_path / "bad", expected_hash=digest)
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    "blob",
    [b"", b"\x00" * 7, b"garbage bytes that are not safetensors", (10**9).to_bytes(8, "little") + b"{}"],
)
def test_adapter_blob_garbage_is_a_clear_error(tmp_path, blob):
    with pytest.raises(ModelError):
        adapter_from_bytes(blob, tmp_path / "x")


def test_adapter_blob_with_a_non_lora_tensor_is_refused(tmp_path):
    from safetensors.torch import save

    blob = save(
        {"model.embed_tokens.weight": torch.zeros(2, 2)},
        metadata={
            "rollproof.adapter": json.dumps(
                {"rank": 4, "alpha": 8, "dropout": 0, "target_modules": ["q_proj"]}
            )
        },
    )
    with pytest.raises(ModelError, match="not a LoRA weight"):
        adapter_from_bytes(blob, tmp_path / "x")


def test_adapter_for_another_base_is_refused(tmp_path):
    peft_model, _ = _trained_adapter(0)
    save_adapter(peft_model, tmp_path / "a")
    from verifier.models import TinyConfig

    other, _ = tiny_model(0, TinyConfig(hidden_size=32, num_heads=2, num_kv_heads=1))
    with pytest.raises(ModelError, match="shape"):
        load_adapter(other, tmp_path / "a")


def test_unknown_model_spec_is_a_sentence_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        load_model("someone/some-model-that-is-not-here")
    with pytest.raises(ModelError, match="config.json"):
        load_model(str(tmp_path))


@pytest.mark.slow
def test_smollm2_loads_from_the_cache_with_a_stable_hash():
    a, tokenizer = load_model("smollm2")
    b, _ = load_model("smollm2")
    assert model_hash(a) == model_hash(b)
    assert tokenizer.eos_token == "<|im_end|>"
    assert sum(p.numel() for p in a.parameters()) == 134_515_008
