"""The tokenizer's identity (PROTOCOL.md §5): `tokenizer_hash`, the TaskBoard's `tokenizerHash`.

Prompts are derived from the tokenizer (its chat template), completions are decoded with it for the
reward, and EOS ends generation: two nodes with different tokenizers disagree on every rollout. The
hash covers what model loading produces and what those steps use, nothing that depends on where the
files came from or on the library's serialisation:

- the vocabulary: every (token, id), added tokens included, in id order;
- the BPE merges (normalised to pairs: tokenizers writes them as "a b" or ["a", "b"] by version);
- the added tokens: (id, content, special);
- the special token ids: bos, eos, pad (the loader sets pad = eos when the files name none), unk;
- the chat template (the exact string).

`tokenizer_hash = SHA-256(frame(TOKENIZER_HASH_TAG) || frame(canonical JSON of the above))`, the
JSON with sorted keys, no spaces, UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

TOKENIZER_HASH_TAG = b"rollproof/tokenizer/v1"
SPECIAL_TOKENS = ("bos", "eos", "pad", "unk")
CACHE_ATTRIBUTE = "_rollproof_tokenizer_hash"


def _frame(data: bytes) -> bytes:
    """Length-prefixed bytes (the same framing as verifier.models' hashes)."""
    return struct.pack(">Q", len(data)) + data


def _merges(tokenizer: Any) -> list[list[str]]:
    """The BPE merges of a fast tokenizer as [left, right] pairs; [] for other models."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return []
    model = json.loads(backend.to_str()).get("model", {})
    pairs = []
    for merge in model.get("merges") or []:
        pair = merge.split(" ", 1) if isinstance(merge, str) else list(merge)
        pairs.append([str(part) for part in pair])
    return pairs


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
    return {
        "vocab": [[token, int(i)] for token, i in vocab],
        "merges": _merges(tokenizer),
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
