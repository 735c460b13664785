"""`python -m node.devnet [--tiny] [--json]`, and `python -m node.devnet beacon PORT GENESIS PERIOD`."""

from node.devnet.command import main

if __name__ == "__main__":
    raise SystemExit(main())
