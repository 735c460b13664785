"""Held-out accuracy before/after for each honest miner in the devnet summary (issue 13, item 5).

The miners' stores are real (sqlite, the same open_store the devnet uses), their adapters real files
written by save_adapter, the model the tiny one and the environment the devnet's; only the node
process handles are stand-ins (name, role, cheat, store()), since no chain or process is needed to
read a finished miner's adapters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from node.devnet.options import DevnetOptions
from node.devnet.summary import Reports
from node.envs.letters import LettersEnv
from node.store import open_store
from node.train.heldout import heldout_accuracy, heldout_problems
from verifier.models import adapter_hash, new_adapter, save_adapter, tiny_model


@dataclass
class _Node:
    name: str
    role: str
    cheat: bool
    data_dir: Path

    def store(self):
        return open_store(f"sqlite:///{self.data_dir / 'node.db'}")


class _Net(Reports):
    def __init__(self, options, nodes):
        self.options = options
        self.nodes = {n.name: n for n in nodes}


def _save(model, directory: Path, store, parent=None) -> bytes:
    h = adapter_hash(model)
    save_adapter(model, directory / ("0x" + h.hex()))
    store.add_adapter(h, directory / ("0x" + h.hex()), parent=parent, own=True)
    return h


def test_heldout_set_is_fixed_and_scores_per_adapter():
    env = LettersEnv()
    assert [p.question for p in heldout_problems(env, 5, 0)] == [
        p.question for p in heldout_problems(env, 5, 0)
    ]
    with pytest.raises(ValueError, match="1 to 10,000"):
        heldout_problems(env, 0, 0)


def test_summary_reports_before_and_after_for_each_honest_miner(tmp_path):
    options = DevnetOptions.tiny(out_dir=tmp_path / "net")
    nodes = [
        _Node("miner1", "miner", False, tmp_path / "m1"),
        _Node("miner2", "miner", False, tmp_path / "m2"),
        _Node("cheater1", "miner", True, tmp_path / "c1"),
        _Node("validator1", "validator", False, tmp_path / "v1"),
    ]
    for n in nodes:
        n.data_dir.mkdir()
    base, _ = tiny_model(0)
    policy = new_adapter(base, rank=4, seed=0)
    with nodes[0].store() as store:  # miner1: the fresh adapter, then one trained (here: moved) step
        fresh = _save(policy, tmp_path / "m1", store)
        with torch.no_grad():
            for name, p in policy.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 2.0)
        trained = _save(policy, tmp_path / "m1", store, parent=fresh)
    with nodes[1].store() as store:  # miner2: never trained (only its fresh adapter)
        _save(new_adapter(tiny_model(0)[0], rank=4, seed=0), tmp_path / "m2", store)

    report = _Net(options, nodes).heldout_before_after(problems=4)

    assert set(report) == {"miner1", "miner2"}  # honest miners only
    m1, m2 = report["miner1"], report["miner2"]
    assert m1["adapter"] == "0x" + trained.hex() and m1["training_steps"] == 1
    assert m2["training_steps"] == 0 and m1["problems"] == 4
    assert m1["before"] == m2["before"] == m2["after"]  # the same base, the same fixed problems
    # miner1's "after" is its trained adapter's own score, recomputed independently here.
    from node.train.heldout import heldout_problems as problems_of
    from verifier.models import load_adapter

    env = LettersEnv()
    tokenizer = tiny_model(0)[1]
    items = problems_of(env, 4, options.difficulty)
    expected = heldout_accuracy(
        load_adapter(tiny_model(0)[0], tmp_path / "m1" / ("0x" + trained.hex()), trained),
        tokenizer,
        env,
        items,
        options.max_tokens,
    )[0]
    assert m1["after"] == pytest.approx(round(expected, 4))
    assert m1["after"] != m1["before"]  # the moved adapter is a different policy, and it shows


def test_an_altered_adapter_file_is_reported_not_evaluated(tmp_path):
    options = DevnetOptions.tiny(out_dir=tmp_path / "net")
    node = _Node("miner1", "miner", False, tmp_path / "m1")
    node.data_dir.mkdir()
    policy = new_adapter(tiny_model(0)[0], rank=4, seed=0)
    with node.store() as store:
        h = _save(policy, tmp_path / "m1", store)
    # Someone rewrites the adapter's weights on disk after the store recorded its hash.
    other = new_adapter(tiny_model(0)[0], rank=4, seed=5)
    with torch.no_grad():
        for name, p in other.named_parameters():
            if "lora_B" in name:
                p.fill_(0.5)
    save_adapter(other, tmp_path / "m1" / ("0x" + h.hex()))
    report = _Net(options, [node]).heldout_before_after(problems=2)["miner1"]
    assert report["after"] is None
    assert "not evaluated" in report["error"] and "hashes to" in report["error"]
