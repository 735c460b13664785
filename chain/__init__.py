"""Rollproof chain package: the Python side of the contracts.

Modules (each small, no web3 types in what callers get back):
- artifacts: shipped ABIs/bytecode (`python -m chain.artifacts --export` after `forge build`)
- anvil:     `Anvil` context manager (real node on a free port, Prague) with time travel
- deploy:    `deploy_all`, `DeployParams`, `BeaconConfig`, `Deployment.load/save`
- keys:      V3 keystores, passphrases, the libp2p identity key and its on-chain binding
- tx:        `Sender` (nonces, EIP-1559 fees, retries that never double-send, receipts)
- errors:    custom errors decoded into sentences (`ChainError`, `ChainRevert`)
- events:    `LogFollower` with confirmations and a `CursorStore`
- clients:   `Chain.connect(rpc, deployment, account)` -> token, stakes, board, settlement, beacon
- cli:       `keys_app` and `deploy`, mounted by node/cli/forwarded.py
- testing:   `CuttableProxy`, a loopback TCP proxy for RPC fault tests
"""
