"""The tokenizer's identity (PROTOCOL.md §5): `tokenizer_hash`, the TaskBoard's `tokenizerHash`.

Prompts are derived from the tokenizer (its chat template), completions are decoded with it for the
reward, and EOS ends generation: two nodes with different tokenizers disagree on every rollout. The
hash covers what model loading produces and what those steps use, nothing that depends on where the
files came from or on the library's serialisation:

- the vocabulary: every (token, id), added tokens included, in id order;
- the BPE merges (normalised to pairs: tokenizers writes them as "a b" or ["a", "b"] by version);
- the added tokens: (id, content, special);
- the special token ids: bos, eos, pad (the loader sets pad = eos when the files name none), unk;
- the chat template (the exact string);
- the text-splitting pipeline: tokenizer.json's normalizer, pre_tokenizer, post_processor and
  decoder sections and the model's options (type, byte_fallback, unk_token, ignore_merges,
  dropout, ...: the model section without its vocab and merges), as the fast tokenizer's backend
  serialises them. Two tokenizers equal in everything else but splitting or normalising text
  differently map the same text to different ids, so they must not share a hash. Padding and
  truncation are left out: the library switches them on and off per call, and the protocol's
  prompts and decodes use neither.

`tokenizer_hash = SHA-256(frame(TOKENIZER_HASH_TAG) || frame(canonical JSON of the above))`, the
JSON with sorted keys, no spaces, UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

TOKENIZER_HASH_TAG = b"rollproof/tokenizer/v2"  # v2: the text-splitting pipeline is covered
SPECIAL_TOKENS = ("bos", "eos", "pad", "unk")
CACHE_ATTRIBUTE = "_rollproof_tokenizer_hash"
PIPELINE_SECTIONS = ("normalizer", "pre_tokenizer", "post_processor", "decoder")
MODEL_TABLES = ("vocab", "merges")  # covered as "vocab" and "merges"; the rest of "model" is options


def _frame(data: bytes) -> bytes:
    """Length-prefixed bytes (the same framing as verifier.models' hashes)."""
    return struct.pack(">Q", len(data)) + data


def _backend_json(tokenizer: Any) -> dict[str, Any]:
    """tokenizer.json as the fast tokenizer's backend serialises it now ({} for a slow tokenizer)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return {} if backend is None else json.loads(backend.to_str())


def _merges(backend: dict[str, Any]) -> list[list[str]]:
    """The BPE merges as [left, right] pairs; [] for other models."""
    pairs = []
    for merge in backend.get("model", {}).get("merges") or []:
        pair = merge.split(" ", 1) if isinstance(merge, str) else list(merge)
        pairs.append([str(part) for part in pair])
    return pairs


def _pipeline(backend: dict[str, Any]) -> dict[str, Any]:
    """How text becomes tokens besides the vocabulary and merges: the normalizer, pre-tokenizer,
    post-processor and decoder sections, and the model's options (null where a section is absent).
    Key order is irrelevant: the hash's JSON sorts keys at every depth."""
    pipeline: dict[str, Any] = {name: backend.get(name) for name in PIPELINE_SECTIONS}
    model = backend.get("model")
    pipeline["model"] = None if model is None else {k: v for k, v in model.items() if k not in MODEL_TABLES}
    return pipeline


def tokenizer_identity(tokenizer: Any) -> dict[str, Any]:
    """What `tokenizer_hash` covers, as a JSON-able mapping (also for showing a difference)."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: (item[1], item[0]))
    added = sorted(
        (int(i), str(t.content), bool(t.special)) for i, t in tokenizer.added_tokens_decoder.items()
    )
    specials = {}
    for name in SPECIAL_TOKENS:
        value = getattr(tokenizer, f"{name}_token_id", None)
        specials[name] = None if value is None else int(value)
    backend = _backend_json(tokenizer)
    return {
        "vocab": [[token, int(i)] for token, i in vocab],
        "merges": _merges(backend),
        "pipeline": _pipeline(backend),
        "added": [list(a) for a in added],
        "special": specials,
        "chat_template": getattr(tokenizer, "chat_template", None) or "",
    }


def tokenizer_hash(tokenizer: Any) -> bytes:
    """The 32-byte identity of a loaded tokenizer (the module docstring says what it covers).

    About a second of CPU for SmolLM2's 49k tokens and merges, and a validator checks its tokenizer
    once per audited miner: the hash is kept on the tokenizer object with what an ordinary change
    (an added token, another template or special token) would alter, and recomputed when that moves.
    """
    stamp = (
        len(tokenizer),
        getattr(tokenizer, "chat_template", None),
        repr(tokenizer.added_tokens_decoder),
        tuple(getattr(tokenizer, f"{name}_token_id", None) for name in SPECIAL_TOKENS),
        _pipeline_stamp(tokenizer),
    )
    cached = getattr(tokenizer, CACHE_ATTRIBUTE, None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    canonical = json.dumps(
        tokenizer_identity(tokenizer), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    digest = hashlib.sha256(_frame(TOKENIZER_HASH_TAG) + _frame(canonical)).digest()
    try:
        setattr(tokenizer, CACHE_ATTRIBUTE, (stamp, digest))
    except AttributeError:
        pass  # a tokenizer that takes no attributes is hashed every time
    return digest


MODEL_OPTIONS = (
    "dropout",
    "unk_token",
    "continuing_subword_prefix",
    "end_of_word_suffix",
    "fuse_unk",
    "byte_fallback",
    "ignore_merges",
    "max_input_chars_per_word",
)


def _pipeline_stamp(tokenizer: Any) -> tuple:
    """The pipeline's components as serialised bytes and the model's options, without serialising the
    vocabulary: a pipeline swapped or an option set in place (also on a copy that carries the cached
    hash) invalidates the cache."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return ()
    parts: list[Any] = []
    for name in PIPELINE_SECTIONS:
        component = getattr(backend, name, None)
        parts.append(None if component is None else component.__getstate__())
    model = backend.model
    parts.append(type(model).__name__)
    parts.extend(repr(getattr(model, option, None)) for option in MODEL_OPTIONS)
    return tuple(parts)
