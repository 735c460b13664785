"""Protections are on by default; only the devnet turns off what 127.0.0.1 cannot satisfy, in its
own configuration, and a node with a protection off says so in its log (issue 17).

Both tests start a real libp2p host through `start_p2p`, the function every role starts its host
with, and read the running GossipSub router's own flag. The chain is never consulted: a stake
lookup happens only when gossip arrives, and none does here.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from node.config import load_config
from node.devnet import Devnet, DevnetOptions
from node.runtime.context import NodeContext
from node.runtime.network import start_p2p
from node.runtime.settings import RoleSettings, settings_from
from node.runtime.stop import StopFlag
from node.store import Role

WARNING = "eclipse protection is OFF"


def _started_host(settings: RoleSettings, chain: object) -> object:
    # A real chain: start_p2p follows the stakers and tasks from its events.
    ctx = NodeContext(
        settings=settings,
        role=Role.MINER,
        store=None,  # type: ignore[arg-type]
        chain=chain,  # type: ignore[arg-type]
        address="0x" + "00" * 20,
        account_key=secrets.token_bytes(32),
        identity_secret=secrets.token_bytes(32),
        deployment=None,  # type: ignore[arg-type]
        beacon=None,
        stop=StopFlag(),
    )
    return start_p2p(ctx)


def _eclipse_protection_of(node: object) -> bool:
    return bool(node.pubsub.router.eclipse_protection_enabled)  # type: ignore[attr-defined]


def test_a_node_outside_a_devnet_starts_with_eclipse_protection_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, chain: object
) -> None:
    # What `rollproof miner` builds from a config with nothing about protections in it.
    cfg = load_config(
        None,
        env={},
        overrides={"node.data_dir": str(tmp_path / "data"), "p2p.listen": "/ip4/127.0.0.1/tcp/0"},
    )
    settings = settings_from(cfg, "miner")
    settings.data_dir.mkdir(parents=True)
    caplog.set_level(logging.INFO)
    node = _started_host(settings, chain)
    try:
        assert _eclipse_protection_of(node) is True
        assert node.config.stake_cache_seconds == 30.0  # type: ignore[attr-defined]
    finally:
        node.stop()  # type: ignore[attr-defined]
    assert not [r for r in caplog.records if WARNING in r.getMessage()]


def test_devnet_nodes_turn_eclipse_protection_off_explicitly_and_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, chain: object
) -> None:
    options = DevnetOptions.tiny(
        out_dir=tmp_path / "net", honest_miners=1, cheaters=0, validators=1, evaluators=1
    )
    with Devnet(options) as net:
        net.start()  # writes every node's settings file; starts no node
        gossiping = [n for n in net.nodes.values() if n.role != "proposer"]
        assert {n.role for n in gossiping} == {"miner", "validator", "evaluator"}
        for proc in gossiping:
            written = RoleSettings.load(proc.config_path)
            # The devnet's own settings file says so; nothing is left to a default.
            raw = proc.config_path.read_text()
            assert '"eclipse_protection": false' in raw
            assert written.eclipse_protection is False
            caplog.clear()
            caplog.set_level(logging.INFO)
            node = _started_host(written, chain)
            try:
                assert _eclipse_protection_of(node) is False
                assert node.config.stake_cache_seconds == options.stake_cache_seconds  # type: ignore[attr-defined]
            finally:
                node.stop()  # type: ignore[attr-defined]
            warnings = [r for r in caplog.records if WARNING in r.getMessage()]
            assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING, proc.name


@pytest.mark.parametrize(
    ("confirmations", "chain_id", "warned"),
    [(0, 8453, True), (0, 1, True), (2, 8453, False), (0, 31337, False)],
)
def test_acting_at_the_chain_head_of_a_real_chain_is_warned(
    confirmations: int, chain_id: int, warned: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from node.runtime.context import warn_reorg_protection_off

    settings = settings_from(
        load_config(
            None,
            env={},
            overrides={"node.data_dir": str(tmp_path), "chain.confirmations": confirmations},
        ),
        "validator",
    )
    caplog.set_level(logging.INFO)
    assert warn_reorg_protection_off(settings, chain_id) is warned
    assert bool([r for r in caplog.records if "reorg protection is OFF" in r.getMessage()]) is warned
