"""The devnet's end: every balance reconciled against the chain, the summary and its checks, the
miners' learning curves plotted, and the summary printed."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from node.devnet.options import RPT

# The held-out set of the summary's before/after accuracy: small, fixed and greedy, so the report
# costs seconds (one batched decode per miner) and every run scores the same problems.
HELDOUT_PROBLEMS = 16
RECONCILE_TRIES = 5  # readings retaken while blocks keep coming (see Reports.reconcile)


class Reports:
    """The reports of a finished devnet (mixed into `Devnet`)."""

    def learning_curves(self) -> dict[str, list[tuple[int, float]]]:
        """Per miner: (task, mean reward of its own rollouts) from its store, in task order."""
        curves: dict[str, list[tuple[int, float]]] = {}
        for node in self.nodes.values():
            if node.role != "miner":
                continue
            with node.store() as store:
                points = []
                for tid in self.finalized_tasks():
                    rows = store.own_rollouts(tid)
                    if rows:
                        points.append((tid, sum(r.claimed_reward for r in rows) / len(rows) / 1e6))
                curves[node.name] = points
        return curves

    def heldout_before_after(self, problems: int = HELDOUT_PROBLEMS) -> dict[str, dict[str, Any]]:
        """Per honest miner: held-out accuracy of the base (before) and of its newest own
        adapter (after) on a fixed set (node/train/heldout.py), and how many training steps led to that adapter (its lineage back to the fresh one)."""
        from node.model import load_model_spec
        from node.runtime.errors import RoleError
        from node.tasks.view import get_env
        from node.train.heldout import heldout_accuracy, heldout_problems
        from verifier.models import load_adapter

        o = self.options
        honest = [n for n in self.nodes.values() if n.role == "miner" and not n.cheat]
        if not honest:
            return {}
        env = get_env(o.env)
        items = heldout_problems(env, problems, o.difficulty)
        base, tokenizer = load_model_spec(o.model)
        before = heldout_accuracy(base, tokenizer, env, items, o.max_tokens)[0]
        out: dict[str, dict[str, Any]] = {}
        for node in honest:
            with node.store() as store:
                row = store.latest_own_adapter()
                steps = len(store.adapter_lineage(row.adapter_hash)) - 1 if row is not None else 0
            entry: dict[str, Any] = {
                "problems": problems,
                "before": round(before, 4),
                "after": round(before, 4),
            }
            entry.update({"adapter": None, "training_steps": steps})
            if row is not None:
                entry["adapter"] = row.adapter_hash
                try:
                    policy = load_adapter(
                        load_model_spec(o.model)[0], row.path, bytes.fromhex(row.adapter_hash[2:])
                    )
                except (OSError, ValueError, RoleError) as exc:  # a missing or altered adapter file
                    entry.update(after=None, error=f"adapter {row.adapter_hash} not evaluated: {exc}")
                else:
                    entry["after"] = round(
                        heldout_accuracy(policy, tokenizer, env, items, o.max_tokens)[0], 4
                    )
            out[node.name] = entry
        return out

    def plot(self, curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, points in curves.items():
            if points:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
        ticks = sorted({t for points in curves.values() for t, _ in points})
        if ticks:
            ax.set_xticks(ticks)
        ax.set_xlabel("task")
        ax.set_ylabel("mean reward of own rollouts")
        ax.set_title("miners' learning curves")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path

    def reconcile(self) -> list[str]:
        """Every balance against the chain; returns the mismatches (empty when all agree).

        The balances are read one call at a time, so they are one state's figures only if no
        transaction landed meanwhile: a node still running (a validator claiming its fee) would
        otherwise move tokens between a wallet already read and a contract not yet read (seen: 14.84
        RPT "missing" from the total). A reading during which some block carried a transaction is
        taken again (the devnet's Anvil also mines empty blocks every second; those change nothing)."""
        assert self.chain is not None
        w3 = self.chain.w3
        problems: list[str] = []
        for _ in range(RECONCILE_TRIES):
            first = w3.eth.block_number
            problems = self._reconcile_once()
            last = w3.eth.block_number
            if not any(w3.eth.get_block(b)["transactions"] for b in range(first + 1, last + 1)):
                break
        return problems

    def _reconcile_once(self) -> list[str]:
        assert self.chain is not None
        # Events up to now before reading balances: a node may have claimed since the last poll.
        self.poll_events()
        problems: list[str] = []
        c = self.chain
        staked, slashed, claimed, credited, escrowed, withdrawn = (defaultdict(int) for _ in range(6))
        for e in self.events:
            a = e.args
            if e.name == "Staked":
                staked[a["who"]] += int(a["amount"])
            elif e.name == "Slashed":
                slashed[a["who"]] += int(a["amount"])
            elif e.name == "Claimed":
                claimed[a["who"]] += int(a["amount"])
            elif e.name == "Credited":
                credited[a["who"]] += int(a["amount"])
            elif e.name == "TaskPosted":
                escrowed[a["proposer"]] += int(a["reward"])
            elif e.name == "Withdrawn":
                withdrawn[a["who"]] += int(a["amount"])
        total = 0
        for node in self.nodes.values():
            who = node.address
            balance = c.token.balance_of(who)
            total += balance
            expected = self.minted[who] - staked[who] - escrowed[who] + claimed[who] + withdrawn[who]
            if balance != expected:
                problems.append(
                    f"{node.name}: token balance {balance} != minted - staked - escrowed + claimed = {expected}"
                )
            claimable = c.settlement.claimable(who)
            if credited[who] != claimed[who] + claimable:
                problems.append(
                    f"{node.name}: credited {credited[who]} != claimed {claimed[who]} + claimable {claimable}"
                )
            stake = sum(c.stakes.active_stake(who, r) + c.stakes.cooling_stake(who, r) for r in (0, 1, 2))
            if stake != staked[who] - slashed[who] - withdrawn[who]:
                problems.append(
                    f"{node.name}: stake {stake} != staked {staked[who]} - slashed {slashed[who]}"
                )
        held = sum(
            c.token.balance_of(self.deployment.address(n))
            for n in ("StakeManager", "TaskBoard", "Settlement", "Disputes")
        )  # type: ignore[union-attr]
        if total + held != c.token.total_supply():
            problems.append(f"accounts {total} + contracts {held} != total supply {c.token.total_supply()}")
        return problems

    def summary(self) -> dict[str, Any]:
        assert self.chain is not None
        s = self.chain.settlement
        o = self.options
        tasks = []
        for tid in sorted({int(e.args["taskId"]) for e in self.events if e.name == "TaskPosted"}):
            ts = s.task_settlement(tid)
            task = self.chain.board.get_task(tid)
            entry: dict[str, Any] = {
                "task": tid,
                "difficulty": task.params.difficulty,
                "finalized": ts.finalized,
                "refund": ts.refund,
                "validator_pool": ts.validator_pool,
                "miners": {},
                "validators": {},
            }
            for m in s.miners(tid):
                ms = s.miner_state(tid, m)
                entry["miners"][self.label(m)] = {
                    "outcome": ms.outcome.name,
                    "score": ms.score,
                    "paid": ms.paid,
                    "slashed": ms.slashed,
                }
            for v in s.validators(tid):
                vs = s.validator_state(tid, v)
                entry["validators"][self.label(v)] = {
                    "seats": vs.seats,
                    "revealed": vs.revealed,
                    "settled": vs.settled,
                    "penalized": vs.penalized,
                    "fee": vs.fee,
                    "jackpot": vs.jackpot,
                    "paid": vs.fee + vs.jackpot,
                    "forfeited": vs.bond if vs.penalized else 0,
                }
            tasks.append(entry)
        totals = {}
        for node in self.nodes.values():
            paid = sum(
                t["miners"].get(node.name, {}).get("paid", 0)
                + t["validators"].get(node.name, {}).get("paid", 0)
                for t in tasks
            )
            slashed_total = sum(
                t["miners"].get(node.name, {}).get("slashed", 0)
                + t["validators"].get(node.name, {}).get("forfeited", 0)
                for t in tasks
            )
            totals[node.name] = {
                "address": node.address,
                "role": node.role,
                "cheater": node.cheat,
                "behaviour": node.behaviour,
                "seats": sum(t["validators"].get(node.name, {}).get("seats", 0) for t in tasks),
                "net": paid - slashed_total,
                "paid": paid,
                "slashed": slashed_total,
                "balance": self.chain.token.balance_of(node.address),
                "restarts": node.restarts,
            }
        curves = self.learning_curves()
        heldout = self.heldout_before_after()
        problems = self.reconcile()
        checks = self.checks(tasks, totals)
        return {
            "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(o).items()},
            "seconds": round(time.monotonic() - self.started, 1),
            "tasks": tasks,
            "nodes": totals,
            "learning_curves": {k: [[t, round(r, 4)] for t, r in v] for k, v in curves.items()},
            "heldout": heldout,
            "reconciliation_problems": problems,
            "stragglers": self.stragglers,
            "checks": checks,
            "ok": not problems and all(checks.values()),
        }

    def checks(self, tasks: list[dict[str, Any]], totals: dict[str, Any]) -> dict[str, bool]:
        o = self.options
        honest = [n for n in self.nodes.values() if n.role == "miner" and not n.cheat]
        cheaters = [n for n in self.nodes.values() if n.cheat]
        offline = {f"validator{i + 1}" for i in o.offline_validators}
        judges = [
            n
            for n in self.nodes.values()
            if n.role == "validator" and not n.behaviour and n.name not in offline
        ]
        deviants = [n for n in self.nodes.values() if n.behaviour]
        out = {
            f"{o.tasks} tasks finalized": sum(1 for t in tasks if t["finalized"]) >= o.tasks,
            "every honest miner paid": all(totals[n.name]["paid"] > 0 for n in honest),
            "no honest miner slashed": all(totals[n.name]["slashed"] == 0 for n in honest),
            "every honest miner took part in every task": all(
                t["miners"].get(n.name, {}).get("outcome") not in (None, "NO_COMMIT")
                for t in tasks
                for n in honest
            ),
        }
        if judges:
            out["every honest validator paid"] = all(totals[n.name]["paid"] > 0 for n in judges)
        # Honest parties never lose stake: no honest miner slashed (above), no honest validator's bond forfeited.
        out["no honest validator penalized"] = all(totals[n.name]["slashed"] == 0 for n in judges)
        if cheaters and judges:
            out["every cheater slashed"] = all(totals[n.name]["slashed"] > 0 for n in cheaters)
            out["no cheater paid"] = all(totals[n.name]["paid"] == 0 for n in cheaters)
        for n in deviants:
            out[f"{n.behaviour} validator {n.name} lost money"] = totals[n.name]["net"] < 0
        return out


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"devnet summary ({summary['seconds']:.0f} s)")
    for col in ("node", "role", "seats", "paid RPT", "slashed/forfeited RPT", "net RPT", "balance RPT"):
        table.add_column(col)
    for name, n in summary["nodes"].items():
        role = (
            "cheater"
            if n["cheater"]
            else (f"{n['behaviour']} {n['role']}" if n.get("behaviour") else n["role"])
        )
        table.add_row(
            name,
            role,
            str(n.get("seats", 0)) if n["role"] == "validator" else "",
            f"{n['paid'] / RPT:.3f}",
            f"{n['slashed'] / RPT:.3f}",
            f"{n['net'] / RPT:+.3f}",
            f"{n['balance'] / RPT:.3f}",
        )
    console.print(table)
    for t in summary["tasks"]:
        outcomes = ", ".join(
            f"{m}: {v['outcome']} score {v['score'] / 1e6:.2f}" for m, v in t["miners"].items()
        )
        console.print(f"task {t['task']} (difficulty {t['difficulty']}): {outcomes}")
        judged = ", ".join(
            f"{v}: {j['seats']} seats, {'PENALIZED' if j['penalized'] else 'ok'}, "
            f"+{j['paid'] / RPT:.2f} -{j['forfeited'] / RPT:.2f} RPT"
            for v, j in t["validators"].items()
        )
        console.print(f"  committee: {judged or 'nobody committed'}")
    for name, ok in summary["checks"].items():
        console.print(f"[{'green' if ok else 'red'}]{'ok  ' if ok else 'FAIL'}[/] {name}")
    for p in summary["reconciliation_problems"]:
        console.print(f"[red]reconciliation: {p}[/]")
    if not summary["reconciliation_problems"]:
        console.print("[green]ok  [/] every balance reconciled against the chain")
    for name, h in summary.get("heldout", {}).items():
        if h.get("error"):
            console.print(f"[red]held-out {name}: {h['error']}[/]")
            continue
        console.print(
            f"held-out ({h['problems']} fixed problems, greedy) {name}: {h['before']:.3f} before -> "
            f"{h['after']:.3f} after {h['training_steps']} training steps"
        )
    if summary.get("plot"):
        console.print(f"learning curves: {summary['plot']}")
