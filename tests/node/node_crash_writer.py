"""A miner-like writer for the SIGKILL test: drives tasks through the miner state machine.

Run as a script: `python node_crash_writer.py <store url> <tasks> <P*G>`. Each step is one store
transaction; after it commits, the writer prints "<task> <state>" so the test knows what must
survive a kill. Restarted, it resumes from the stored states and never records an intent twice.
"""

from __future__ import annotations

import sys

from node.store import MinerState, Role, RolloutRecord, Store, open_store

SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
TOKENS = 300  # long enough that a transaction of rollouts takes a while to write


def h(*parts: int) -> bytes:
    return b"".join(p.to_bytes(8, "big") for p in parts).rjust(32, b"\x00")


def send(store: Store, intent: str, session) -> None:
    """Record the intent unless it exists (a real node would then broadcast the stored raw bytes)."""
    if store.tx_by_intent(intent, session=session) is not None:
        return
    nonce = len(store.transactions(limit=10**9, session=session))
    store.record_signed_tx(
        intent,
        sender=SENDER,
        nonce=nonce,
        tx_hash=h(nonce, 7),
        raw_tx=b"\x02" + intent.encode(),
        session=session,
    )


def step(store: Store, task_id: int, rollouts: int) -> MinerState | None:
    state = store.task_state(task_id, Role.MINER)
    with store.transaction() as s:
        if state is None:
            store.upsert_task(task_id, env_name="basic_arithmetic", params={"P": 1, "G": rollouts}, session=s)
            return store.track_task(task_id, Role.MINER, session=s)
        if state == MinerState.SEEN:
            send(store, f"join:{task_id}", s)
            store.record_join(task_id, SENDER, h(task_id, 1), session=s)
            return store.transition(task_id, Role.MINER, MinerState.JOINED, session=s)
        if state == MinerState.JOINED:
            store.set_task_randomness(task_id, seed=h(task_id, 2), session=s)
            return store.transition(task_id, Role.MINER, MinerState.SEEDED, session=s)
        if state == MinerState.SEEDED:
            records = [
                RolloutRecord(
                    0, g, list(range(TOKENS)), [-0.001 * i for i in range(TOKENS)], 1, h(task_id, g, 3)
                )
                for g in range(rollouts)
            ]
            store.add_own_rollouts(task_id, records, session=s)
            return store.transition(task_id, Role.MINER, MinerState.GENERATED, session=s)
        if state == MinerState.GENERATED:
            send(store, f"commit:{task_id}", s)
            store.record_commitment(task_id, SENDER, h(task_id, 4), rollouts, session=s)
            return store.transition(task_id, Role.MINER, MinerState.COMMITTED, session=s)
    return None


def main() -> None:
    url, tasks, rollouts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = open_store(url)
    print("open", flush=True)
    for task_id in range(1, tasks + 1):
        while (state := step(store, task_id, rollouts)) is not None:
            print(task_id, state.value, flush=True)
    print("done", flush=True)
    store.close()


if __name__ == "__main__":
    main()
