"""The devnet's settings files carry its options to the node that acts on them."""

from __future__ import annotations

import json

from node.devnet.options import DevnetOptions
from node.devnet.processes import Devnet, NodeProc
from node.roles.proposer import audit_fields
from node.runtime.settings import RoleSettings


def test_the_devnet_proposer_posts_the_devnet_s_audit_count_and_positions(tmp_path, anvil):
    """DevnetOptions' m and k reach the proposer's settings file, and from it the audit fields of
    every task it posts (not the built-in defaults)."""
    options = DevnetOptions.tiny(
        out_dir=tmp_path, num_problems=3, rollouts_per_problem=2, audit_count=5, positions=7
    )
    devnet = Devnet(options)
    devnet.anvil = anvil  # the only part of a started devnet the settings read (its RPC URL)
    data_dir = tmp_path / "proposer"
    node = NodeProc(
        "proposer", "proposer", "0x" + "11" * 20, data_dir, data_dir / "settings.json", tmp_path / "p.log"
    )
    settings = devnet._settings("proposer", "proposer", False, 0, [], "http://127.0.0.1:1", node)
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))

    posted = audit_fields(RoleSettings.load(path))

    assert (posted["audit_rollouts"], posted["audit_positions"]) == (5, 7)
    # m is capped at the task's P x G rollouts (TaskBoard rejects more).
    capped = devnet._settings("proposer", "proposer", False, 0, [], "http://127.0.0.1:1", node)
    capped["audit_count"] = 50
    path.write_text(json.dumps(capped))
    assert audit_fields(RoleSettings.load(path))["audit_rollouts"] == 6
