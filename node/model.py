"""The node's model: loaded in the task's dtype with its float32 precision pinned (PROTOCOL.md §5).

An honest miner that generates with TF32 matmuls (which some frameworks switch on) or under
autocast commits logprobs the validators' float32 prefill rejects (issue 14 measured 22.6x the
tolerance on 8 of 8 rollouts). The node therefore pins "highest" float32 matmul precision, turns
TF32 off, refuses to start when something forces it back on, and re-checks before each use.

Loading: `load_model_spec` names a model as the options do ("smollm2", "tiny", "tiny:<seed>", a
directory); `fetch_adapter_blob` downloads a peer's adapter by its canonical hash.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from node.runtime.errors import RoleError

log = logging.getLogger("rollproof.validator")

# Environment switches that force TF32 behind torch's back (cuBLAS / PyTorch overrides).
TF32_OVERRIDES = ("TORCH_ALLOW_TF32_CUBLAS_OVERRIDE", "NVIDIA_TF32_OVERRIDE")


class PrecisionError(RuntimeError):
    """The process cannot compute the protocol's float32 logits; the sentence says what to change."""


def precision_problem() -> str | None:
    """Why this process would not compute exact float32 matmuls, or None."""
    for name in TF32_OVERRIDES:
        value = os.environ.get(name)
        if name == "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE" and value not in (None, "", "0"):
            return f"{name}={value} forces TF32 matmuls; unset it"
        if name == "NVIDIA_TF32_OVERRIDE" and value not in (None, "", "0"):
            return f"{name}={value} lets cuBLAS use TF32; unset it or set it to 0"
    if torch.get_float32_matmul_precision() != "highest":
        return (
            f'torch float32 matmul precision is "{torch.get_float32_matmul_precision()}" (TF32 or bf16 '
            'passes); the protocol needs "highest"'
        )
    if torch.backends.cuda.matmul.allow_tf32:
        return "torch.backends.cuda.matmul.allow_tf32 is on; the protocol needs it off"
    if torch.backends.cudnn.allow_tf32 and torch.cuda.is_available():
        return "torch.backends.cudnn.allow_tf32 is on; the protocol needs it off"
    for device in ("cpu", "cuda"):
        if torch.is_autocast_enabled(device):
            return f"autocast is enabled on {device}; the protocol computes in the task's dtype, without autocast"
    return None


def pin_precision() -> None:
    """Exact float32 matmuls (no TF32, no reduced-precision reductions); raises PrecisionError when
    the process still would not compute them (an environment override, an enclosing autocast)."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    problem = precision_problem()
    if problem is not None:
        raise PrecisionError(f"Refusing to start: {problem}.")


def check_precision() -> None:
    """Raise PrecisionError if anything switched the pinned precision off since `pin_precision`."""
    problem = precision_problem()
    if problem is not None:
        raise PrecisionError(f"The float32 precision changed after start-up: {problem}.")


def load_pinned_model(spec: str, load: Any) -> tuple[Any, Any]:
    """Pin the precision, then `load(spec)` -> (model, tokenizer); the model must be float32.

    The tokenizer's hash (§5) is computed here, once: it is kept on the tokenizer, so the miner's
    join check and the validator's pre-audit check, which run inside short windows, cost nothing."""
    from verifier.tokenizer import tokenizer_hash

    pin_precision()
    model, tokenizer = load(spec)
    dtype = next(model.parameters()).dtype
    if dtype != torch.float32:
        raise PrecisionError(f"The model {spec!r} loaded in {dtype}; the protocol's tasks are fp32 (§5).")
    tokenizer_hash(tokenizer)
    return model, tokenizer


# ---- loading models and adapters ------------------------------------------------------------


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def load_model_spec(spec: str):
    """(model, tokenizer) for "smollm2", "tiny", "tiny:<seed>" or a directory."""
    from verifier.models import ModelError, load_model, tiny_model

    try:
        if spec.startswith("tiny:"):
            return tiny_model(seed=int(spec.split(":", 1)[1]))
        return load_model(spec)
    except (ModelError, ValueError) as exc:
        raise RoleError(f"Cannot load the model {spec!r}: {exc}") from None


ADAPTER_BLOB_LIMIT = 64 * 1024 * 1024


def fetch_adapter_blob(p2p: Any, peer: str | list[str], adapter_hash: bytes, dest_dir: Path) -> Path:
    """Download an adapter blob by its content hash (resumable chunks, `P2PNode.collect_adapter`:
    several peers at once) and unpack it into `dest_dir/0x<hash>/`. `peer` may be a list: the first
    that serves bytes matching the hash wins (any holder's copy of content-addressed bytes is as
    good as the miner's).

    The protocol's adapter hash (`verifier.models.adapter_hash`, what `join` puts on chain) is a
    canonical hash of the LoRA config and tensors, not keccak of the file, so the download is
    checked by parsing the blob and recomputing that hash.
    """
    from verifier.models import ModelError, adapter_from_blob, adapter_from_bytes

    def canonical_hash_matches(path: Path, expected: bytes) -> bool:
        if path.stat().st_size > ADAPTER_BLOB_LIMIT:
            return False
        try:
            return adapter_from_blob(path.read_bytes())[2] == bytes(expected)
        except ModelError:
            return False

    dest_dir.mkdir(parents=True, exist_ok=True)
    blob = dest_dir / ("0x" + bytes(adapter_hash).hex() + ".bin")
    fetched = p2p.collect_adapter(
        peer, bytes(adapter_hash), blob, verify=canonical_hash_matches, max_bytes=ADAPTER_BLOB_LIMIT
    )
    log.info("adapter 0x%s served by %s", bytes(adapter_hash).hex(), fetched.served_by)
    directory = dest_dir / ("0x" + bytes(adapter_hash).hex())
    adapter_from_bytes(blob.read_bytes(), directory, expected_hash=bytes(adapter_hash))
    return directory
