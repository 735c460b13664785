"""50 transactions from several threads on one account land with consecutive nonces."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from chain.clients import Chain

RPT = 10**18


def test_fifty_transactions_from_five_threads(anvil, deployment, accounts):
    payer = Chain.connect(anvil.rpc_url, deployment, accounts[1])
    receiver = accounts[9].address
    first_nonce = payer.sender.pending_nonce()
    before = payer.token.balance_of(receiver)

    def send(i: int):
        return payer.token.transfer(receiver, (i + 1) * RPT)

    with ThreadPoolExecutor(max_workers=5) as pool:
        receipts = list(pool.map(send, range(50)))

    assert all(r.status == 1 for r in receipts)
    assert sorted(r.nonce for r in receipts) == list(range(first_nonce, first_nonce + 50))
    assert len({r.tx_hash for r in receipts}) == 50
    assert payer.token.balance_of(receiver) == before + sum(range(1, 51)) * RPT
    assert payer.sender.pending_nonce() == first_nonce + 50


def test_restarted_sender_resumes_from_the_node(anvil, deployment, accounts):
    """A new process (a new Sender) continues the same account's nonce sequence without a gap."""
    first = Chain.connect(anvil.rpc_url, deployment, accounts[2])
    a = first.token.transfer(accounts[9].address, RPT)
    second = Chain.connect(anvil.rpc_url, deployment, accounts[2])
    b = second.token.transfer(accounts[9].address, RPT)
    c = first.token.transfer(accounts[9].address, RPT)  # the old sender's local nonce is stale
    assert b.nonce == a.nonce + 1
    assert c.status == 1 and c.nonce == b.nonce + 1
