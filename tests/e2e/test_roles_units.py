"""Fast checks of the roles' building blocks (no devnet): settings, the test environment, the port
probe, and the transaction journal's intents."""

from __future__ import annotations

import json
import socket

import pytest

from chain.tx import SignedTx
from node.envs.letters import NAME, LettersEnv
from node.runtime.context import _journal
from node.runtime.errors import RoleError
from node.runtime.network import check_listen_port
from node.runtime.settings import RoleSettings
from node.store import open_store
from node.tasks.view import get_env


def test_settings_round_trip_and_unknown_keys_are_a_sentence(tmp_path):
    s = RoleSettings(
        role="miner",
        data_dir=tmp_path,
        rpc_url="http://x",
        deployment=tmp_path / "d",
        keystore=tmp_path / "k",
    )
    path = tmp_path / "s.json"
    path.write_text(json.dumps(s.to_mapping()))
    assert RoleSettings.load(path) == s
    path.write_text(json.dumps({**s.to_mapping(), "stak": 1}))
    with pytest.raises(RoleError, match="Unknown setting"):
        RoleSettings.load(path)
    path.write_text(json.dumps({**s.to_mapping(), "role": "oracle"}))
    with pytest.raises(RoleError, match="Unknown role"):
        RoleSettings.load(path)


def test_letters_env_is_deterministic_and_scores_in_range():
    env = get_env(NAME)
    assert isinstance(env, LettersEnv)
    a, b = env.generate(b"seed", 5, 1), env.generate(b"seed", 5, 1)
    assert a == b and [p.index for p in a] == list(range(5))
    assert all(p.answer in p.question for p in env.generate(b"other", 5, 1))
    assert env.score(a[0], "") == 0.0
    assert env.score(a[0], "abc") == 1.0
    assert env.score(a[0], "ab12") == 0.5
    assert 0.0 <= env.score(a[0], "\x00" * 10 + "é") <= 1.0


def test_port_probe_refuses_a_live_listener_only():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(RoleError, match="port in use"):
            check_listen_port(f"/ip4/127.0.0.1/tcp/{port}")
    check_listen_port(f"/ip4/127.0.0.1/tcp/{port}")  # closed: free again
    check_listen_port("/ip4/127.0.0.1/tcp/0")


def test_journal_keeps_one_row_per_signed_transaction(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    sender = "0x" + "11" * 20
    journal = _journal(store, sender, 31337)
    journal(SignedTx(0, "0x" + "aa" * 32, b"raw0", "claim after task 1"))
    journal(SignedTx(0, "0x" + "aa" * 32, b"raw0", "claim after task 1"))  # the same bytes again: no new row
    journal(SignedTx(1, "0x" + "bb" * 32, b"raw1", "claim after task 1"))  # a new tx, same words: own intent
    rows = {r.intent: r for r in store.transactions()}
    assert set(rows) == {"claim after task 1", "claim after task 1#1"}
    assert rows["claim after task 1#1"].raw_tx == b"raw1"
    assert len(store.unfinished_txs(sender)) == 2
    store.close()


def test_settings_values_are_typed_like_the_config_file(tmp_path):
    """A settings file is layered like a TOML file: a wrong type is a sentence naming the option."""
    base = {"role": "miner", "data_dir": str(tmp_path), "rpc_url": "http://x"}
    path = tmp_path / "s.json"
    path.write_text(json.dumps({**base, "poll_interval": "fast"}))
    with pytest.raises(RoleError, match=r"\[chain\] poll_interval in the settings must be a number"):
        RoleSettings.load(path)
    # The same option names and defaults as `rollproof miner`: stake is its RPT text.
    path.write_text(json.dumps({**base, "stake": "2.5"}))
    assert RoleSettings.load(path).stake == 25 * 10**17
    path.write_text(json.dumps({**base, "stake": "2.5", "auto_stake": False}))
    assert RoleSettings.load(path).stake == 0
