"""What every role process runs on: its settings (a view of the node configuration), the context it
passes around (store, chain, keys, beacon, p2p host), logging and /metrics, the stop signal and the
run loop. The roles themselves live in node/roles; nothing here knows what a miner or validator does."""
