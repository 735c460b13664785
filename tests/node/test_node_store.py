"""The node store on a real SQLite file and on a real PostgreSQL server (tests/node/pg_server.py):
migrations, CRUD, atomic transitions, cursors, tx intents. Every test taking `store` or `store_url`
runs on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from node.store import (
    InvalidTransition,
    MinerState,
    Role,
    RolloutRecord,
    Store,
    StoreError,
    TxStatus,
    ValidatorState,
    open_store,
)
from node.store.database import migrate
from node.store.models import Base

MINER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
OTHER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
EXPECTED_TABLES = {
    "tasks",
    "task_states",
    "task_transitions",
    "own_rollouts",
    "received_rollouts",
    "commitments",
    "audits",
    "verdicts",
    "jury_rulings",
    "transactions",
    "event_cursors",
    "peers",
    "adapters",
    "outcomes",
    "alembic_version",
}


def h(n: int) -> bytes:
    return n.to_bytes(32, "big")


@pytest.fixture
def store(store_url: str):
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_store(tmp_path: Path):
    s = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    yield s
    s.close()


def rollout(p: int, g: int, leaf: int = 0) -> RolloutRecord:
    return RolloutRecord(p, g, [1, 2, 3], [-0.5, -1.25, -0.1], 800_000, h(1000 + leaf + 10 * p + g), "42")


# ---- migrations -------------------------------------------------------------------------------


def test_migrations_create_every_table_and_match_the_models(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert set(inspect(store.engine).get_table_names()) == EXPECTED_TABLES
        with store.engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar() == "0002"
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, Base.metadata) == []
    finally:
        store.close()
    # Reopening runs the migrations again: a no-op on an up-to-date store.
    open_store(store_url).close()


def test_sqlite_parent_dirs_are_created(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "dir" / "node.db"
    open_store(f"sqlite:///{db}").close()
    assert db.is_file()


def test_downgrade_to_empty_and_back_up(tmp_path: Path, store: Store) -> None:
    from alembic import command
    from alembic.config import Config

    from node.store.database import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(store.engine).get_table_names()) == {"alembic_version"}
    migrate(store.engine)
    assert set(inspect(store.engine).get_table_names()) == EXPECTED_TABLES


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"):
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "insert into task_states(task_id, role, state, updated_at) values (99, 'miner', 'SEEN', 0)"
            )


def test_a_store_from_a_newer_version_is_refused_with_a_sentence(store_url: str) -> None:
    store = open_store(store_url)
    with store.engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '9999'"))
    store.close()
    with pytest.raises(StoreError, match="newer version"):
        open_store(store_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "supports sqlite and postgresql"),
        ("sqlite://", "in-memory"),
        ("postgresql+nosuchdriver://u@h/db", "not installed|not a database URL"),
    ],
)
def test_bad_store_urls_are_sentences(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        open_store(url)


# ---- tasks and states ---------------------------------------------------------------------------


def test_task_upsert_keeps_fields_and_big_amounts(store: Store) -> None:
    store.upsert_task(
        7, proposer=MINER.lower(), env_name="basic_arithmetic", params={"reward": 10**24, "P": 4}
    )
    store.upsert_task(7, seed_round=12, challenge_round=30)
    task = store.get_task(7)
    assert task is not None
    assert task.proposer == MINER  # checksummed
    assert task.params == {"reward": str(10**24), "P": 4}  # > 2**53 kept exactly as text
    assert (task.seed_round, task.challenge_round, task.env_name) == (12, 30, "basic_arithmetic")


def test_beacon_randomness_cannot_change_once_stored(store: Store) -> None:
    store.upsert_task(1)
    store.set_task_randomness(1, seed=h(5))
    store.set_task_randomness(1, seed=h(5))  # same value again is fine
    with pytest.raises(StoreError, match="one randomness"):
        store.set_task_randomness(1, seed=h(6))
    assert store.get_task(1).seed_randomness == "0x" + h(5).hex()


def test_transitions_follow_the_machine_and_leave_history(store: Store) -> None:
    store.upsert_task(3)
    assert store.task_state(3, Role.MINER) is None
    assert store.track_task(3, Role.MINER) == MinerState.SEEN
    assert store.track_task(3, Role.MINER) == MinerState.SEEN  # idempotent
    store.transition(3, Role.MINER, MinerState.JOINED, note="adapter 0xab")
    store.transition(3, Role.MINER, MinerState.JOINED)  # replay after restart: no-op
    with pytest.raises(InvalidTransition):
        store.transition(3, Role.MINER, MinerState.COMMITTED)
    assert store.task_state(3, Role.MINER) == MinerState.JOINED
    history = [(t.from_state, t.to_state) for t in store.task_history(3, Role.MINER)]
    assert history == [(None, "SEEN"), ("SEEN", "JOINED")]
    # The validator role keeps its own state of the same task.
    store.track_task(3, Role.VALIDATOR)
    store.transition(3, Role.VALIDATOR, ValidatorState.CHALLENGED)
    assert store.task_state(3, "validator") == ValidatorState.CHALLENGED
    assert [r.role for r in store.active_tasks()] == ["miner", "validator"]
    assert store.tasks_in_state(Role.MINER, [MinerState.JOINED]) == [3]


def test_untracked_and_unknown_tasks_are_sentences(store: Store) -> None:
    with pytest.raises(StoreError, match="upsert_task first"):
        store.track_task(404, Role.MINER)
    store.upsert_task(5)
    with pytest.raises(StoreError, match="track_task first"):
        store.transition(5, Role.MINER, MinerState.JOINED)


def test_a_failed_step_rolls_back_rollouts_and_state_together(store: Store) -> None:
    store.upsert_task(9)
    store.track_task(9, Role.MINER)
    for st in (MinerState.JOINED, MinerState.SEEDED):
        store.transition(9, Role.MINER, st)
    with pytest.raises(RuntimeError, match="crash"):
        with store.transaction() as s:
            store.add_own_rollouts(9, [rollout(0, 0), rollout(0, 1)], session=s)
            store.transition(9, Role.MINER, MinerState.GENERATED, session=s)
            raise RuntimeError("crash in the middle of the step")
    assert store.task_state(9, Role.MINER) == MinerState.SEEDED
    assert store.count_own_rollouts(9) == 0
    with store.transaction() as s:
        store.add_own_rollouts(9, [rollout(0, 0), rollout(0, 1)], session=s)
        store.transition(9, Role.MINER, MinerState.GENERATED, session=s)
    assert store.task_state(9, Role.MINER) == MinerState.GENERATED
    assert [(r.problem, r.index) for r in store.own_rollouts(9)] == [(0, 0), (0, 1)]


# ---- rollouts, commitments, audits, verdicts ----------------------------------------------------


def test_own_rollouts_round_trip_exactly_and_refuse_a_different_leaf(store: Store) -> None:
    store.upsert_task(2)
    lp = [-0.1234567890123456789, -1e-300, -2.5]
    r = RolloutRecord(1, 3, [5, 6, 7], lp, 1_000_000, h(77), "done", payload=b"\x00" * 10)
    assert store.add_own_rollouts(2, [r]) == 1
    assert store.add_own_rollouts(2, [r]) == 0  # regenerated identically after a restart
    got = store.own_rollout(2, 1, 3)
    assert got is not None
    assert got.logprobs == lp and got.tokens == [5, 6, 7] and got.payload == b"\x00" * 10
    bad = RolloutRecord(1, 3, [5, 6, 8], lp, 1_000_000, h(78))
    with pytest.raises(StoreError, match="different|refusing"):
        store.add_own_rollouts(2, [bad])
    with pytest.raises(ValueError, match="tokens but"):
        store.add_own_rollouts(2, [RolloutRecord(0, 0, [1, 2], [-1.0], 0, h(1))])


def test_received_rollouts_first_copy_wins_and_size_is_limited(store: Store) -> None:
    assert store.add_received_rollout(4, MINER, 0, 0, b"first", sender_peer="16Uiu2")
    assert not store.add_received_rollout(4, MINER.lower(), 0, 0, b"second")
    assert store.received_rollouts(4)[0].payload == b"first"
    store.set_received_reward(4, MINER, 0, 0, 800_000)
    assert store.received_rollouts(4, MINER)[0].verified_reward == 800_000
    with pytest.raises(ValueError, match="at most"):
        store.add_received_rollout(4, MINER, 0, 1, b"x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ValueError, match="not an Ethereum address"):
        store.add_received_rollout(4, "0xnotanaddress", 0, 1, b"x")


def test_commitments_audits_and_outcomes(store: Store) -> None:
    store.upsert_task(6)
    store.record_join(6, MINER, h(1), block=10)
    store.record_commitment(6, MINER, h(2), 16, block=11, tx_hash=h(3))
    store.record_commitment(6, MINER, h(2), 16, block=11)  # replay of the same event
    with pytest.raises(StoreError, match="commits once"):
        store.record_commitment(6, MINER, h(4), 16)
    (c,) = store.commitments(6)
    assert (c.adapter_hash, c.root, c.count, c.joined_block) == ("0x" + h(1).hex(), "0x" + h(2).hex(), 16, 10)
    store.record_audit(6, MINER, 0, 1, passed=False, reason="token mismatch at 17", positions=[3, 17])
    store.record_audit(6, MINER, 0, 1, passed=True, positions=[3, 17])  # re-run after restart replaces
    (a,) = store.audits(6, MINER)
    assert a.passed and a.positions == [3, 17]
    store.record_outcome(6, MINER, Role.MINER, "PASSED", score=500_000, paid=7 * 10**18)
    store.record_outcome(6, OTHER, Role.MINER, "FAILED", slashed=10**19)
    assert [o.paid for o in store.outcomes(MINER)] == [7 * 10**18]
    assert sum(o.slashed for o in store.outcomes()) == 10**19


def test_verdict_salt_is_never_replaced(store: Store) -> None:
    store.upsert_task(8)
    verdicts = [{"miner": MINER, "pass": True, "score": 1, "audited": 4}]
    first = store.save_verdict(8, verdicts, salt=h(111), verdict_hash=h(222))
    # A restarted validator that drew a new salt gets the stored one back, so its reveal matches.
    second = store.save_verdict(8, [], salt=h(999), verdict_hash=h(998))
    assert second.salt == first.salt == "0x" + h(111).hex()
    assert second.verdicts == verdicts
    store.set_verdict_tx(8, commit_tx=h(5))
    assert store.verdict(8).commit_tx == "0x" + h(5).hex()


# ---- transactions, cursors, peers, adapters ------------------------------------------------------


def test_transaction_intents_are_recorded_once(store: Store) -> None:
    row, created = store.record_signed_tx(
        "join:7", sender=MINER, nonce=3, tx_hash=h(1), raw_tx=b"\x02raw", chain_id=31337
    )
    assert created and row.status == TxStatus.SIGNED
    # A restarted node that rebuilt the transaction (new nonce, new hash) must get the first one back.
    again, created2 = store.record_signed_tx("join:7", sender=MINER, nonce=4, tx_hash=h(2), raw_tx=b"\x02new")
    assert not created2
    assert (again.nonce, again.tx_hash, again.raw_tx) == (3, "0x" + h(1).hex(), b"\x02raw")
    assert [t.intent for t in store.unfinished_txs(MINER)] == ["join:7"]
    store.set_tx_status("join:7", TxStatus.MINED, block_number=12)
    assert store.unfinished_txs() == []
    assert store.tx_by_intent("join:7").block_number == 12
    with pytest.raises(ValueError, match="not a transaction status"):
        store.set_tx_status("join:7", "MAYBE")
    with pytest.raises(ValueError, match="intent"):
        store.record_signed_tx("x" * 201, sender=MINER, nonce=1, tx_hash=h(9))


def test_tx_journal_adapter_records_signed_transactions(store: Store) -> None:
    from chain.tx import SignedTx

    journal = store.tx_journal(MINER, chain_id=31337)
    journal(SignedTx(nonce=5, tx_hash="0x" + h(42).hex(), raw=b"\x02abc", description="commit:3"))
    row = store.tx_by_intent("commit:3")
    assert row is not None and row.nonce == 5 and row.raw_tx == b"\x02abc" and row.chain_id == 31337


def test_event_cursor_implements_the_chain_cursor_store(store: Store, tmp_path: Path) -> None:
    from chain.events import CursorStore

    cursors: CursorStore = store.cursors
    assert cursors.get("settlement") is None
    cursors.set("settlement", 120)
    cursors.set("settlement", 130)
    cursors.set("board", 5)
    assert (cursors.get("settlement"), cursors.get("board")) == (130, 5)
    with pytest.raises(ValueError):
        cursors.set("board", -1)
    # Survives a reopen.
    url = str(store.engine.url)
    store.close()
    reopened = open_store(url)
    assert reopened.cursors.get("settlement") == 130
    reopened.close()


def test_peers_and_adapters(store: Store) -> None:
    store.upsert_peer("16Uiu2HAmA", address=MINER, multiaddrs=["/ip4/127.0.0.1/tcp/4001"], roles=["miner"])
    store.upsert_peer("16Uiu2HAmB", roles=["validator"])
    store.ban_peer("16Uiu2HAmB", "invalid signature")
    assert [p.peer_id for p in store.peers()] == ["16Uiu2HAmA"]
    assert len(store.peers(include_banned=True)) == 2
    store.add_adapter(h(1), "/a/1", own=True)
    store.add_adapter(h(2), "/a/2", parent=h(1), own=True, task_id=3)
    store.add_adapter(h(3), "/a/3", parent=h(2))
    store.add_adapter(h(2), "/elsewhere")  # idempotent by hash
    assert [a.path for a in store.adapter_lineage(h(3))] == ["/a/3", "/a/2", "/a/1"]
    assert store.adapter(h(2)).path == "/a/2"
    assert store.latest_own_adapter().adapter_hash in ("0x" + h(2).hex(), "0x" + h(1).hex())


def test_migrations_render_for_postgresql_offline() -> None:
    """No PostgreSQL server here: render the migration as PostgreSQL DDL and check every table."""
    import io

    from alembic import command
    from alembic.config import Config

    from node.store.database import MIGRATIONS_DIR

    buffer = io.StringIO()
    cfg = Config(output_buffer=buffer)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", "postgresql://rollproof@localhost/rollproof")
    command.upgrade(cfg, "head", sql=True)
    ddl = buffer.getvalue()
    for table in EXPECTED_TABLES:
        assert f"CREATE TABLE {table} (" in ddl, table
    assert "payload BYTEA" in ddl


def test_concurrent_writers_record_an_intent_exactly_once(store_url: str) -> None:
    """Two stores on one database (like two threads or processes) race to record the same intent."""
    import threading

    url = store_url
    stores = [open_store(url) for _ in range(2)]
    created: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        _row, was_created = stores[i % 2].record_signed_tx(
            "finalize:1", sender=MINER, nonce=i, tx_hash=h(500 + i), raw_tx=bytes([i])
        )
        with lock:
            created.append(was_created)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert sorted(created) == [False] * 7 + [True]
        assert len(stores[0].transactions()) == 1
    finally:
        for s in stores:
            s.close()


def test_a_file_that_is_not_a_store_is_a_sentence(tmp_path: Path) -> None:
    db = tmp_path / "node.db"
    db.write_bytes(b"this is not an SQLite database, just some bytes" * 100)
    with pytest.raises(StoreError, match="Cannot open the store .* is a Rollproof store"):
        open_store(f"sqlite:///{db}")


def test_a_postgresql_server_that_does_not_answer_is_a_sentence() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    with pytest.raises(StoreError, match="(?s)Cannot open the store .*database server is running") as caught:
        open_store(f"postgresql+psycopg://rollproof:secret@127.0.0.1:{port}/rollproof")
    assert "secret" not in str(caught.value)  # the password is redacted


def test_postgresql_store_keeps_uint256_amounts_and_json(postgres) -> None:
    """The PostgreSQL column types round-trip what SQLite does: 256-bit amounts, JSON, bytes."""
    store = open_store(postgres.new_database())
    try:
        assert store.engine.dialect.name == "postgresql"
        store.upsert_task(1)
        big = 2**255 + 12345
        store.record_outcome(1, MINER, Role.MINER, "PASSED", paid=big, slashed=1)
        assert store.outcomes(MINER)[0].paid == big
        store.add_own_rollouts(1, [rollout(0, 0)])
        got = store.own_rollouts(1)[0]
        assert got.tokens == [1, 2, 3] and got.logprobs == [-0.5, -1.25, -0.1]
    finally:
        store.close()
