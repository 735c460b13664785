"""The live view of a running devnet: tasks, miners and validators, from the chain's events."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from chain.clients import Outcome, Vote
from node.devnet.options import RPT


class LiveView:
    """`Devnet.render`: one rich renderable of everything so far (mixed into `Devnet`)."""

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        by_task: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        miners: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        validators: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for e in self.events:
            a = e.args
            if "taskId" in a:
                t = by_task[int(a["taskId"])]
            if e.name == "TaskPosted":
                t["posted"] = 1
            elif e.name == "Joined":
                t["joined"] += 1
            elif e.name == "Committed":
                t["committed"] += 1
                t["rollouts"] += int(a["count"])
                miners[a["miner"]]["rollouts"] += int(a["count"])
            elif e.name == "VerdictCommitted":
                t["verdict commits"] += 1
                validators[a["validator"]]["commits"] += 1
            elif e.name == "VerdictRevealed":
                t["verdicts"] += 1
                t["audited"] += int(a["audited"])
                vote = Vote(int(a["vote"]))
                miners[a["miner"]][
                    {Vote.PASS: "pass votes", Vote.FAIL: "fail votes"}.get(vote, "unavailable")
                ] += 1
            elif e.name == "MinerSettled":
                m = miners[a["miner"]]
                m[Outcome(int(a["outcome"])).name.lower()] += 1
                m["paid"] += int(a["paid"])
                m["slashed"] += int(a["slashed"])
            elif e.name == "TaskFinalized":
                t["finalized"] = 1
                t["refund"] = int(a["refund"])
            elif e.name == "ValidatorSettled":
                v = validators[a["validator"]]
                v["penalized" if a["penalized"] else "settled"] += 1
                v["paid"] += int(a["fee"]) + int(a["jackpot"])
                v["forfeited"] += int(a["forfeited"])

        tasks = Table(title="tasks", expand=False)
        for col in (
            "task",
            "joined",
            "committed",
            "rollouts",
            "verdict commits",
            "verdicts",
            "audited",
            "state",
        ):
            tasks.add_column(col)
        for tid in sorted(by_task):
            t = by_task[tid]
            state = (
                "finalized"
                if t.get("finalized")
                else ("verdicts" if t["verdicts"] else ("committed" if t["committed"] else "open"))
            )
            tasks.add_row(
                str(tid),
                *(
                    str(t[c])
                    for c in ("joined", "committed", "rollouts", "verdict commits", "verdicts", "audited")
                ),
                state,
            )
        people = Table(title="miners", expand=False)
        for col in (
            "miner",
            "rollouts",
            "pass votes",
            "fail votes",
            "passed",
            "failed",
            "forced",
            "paid RPT",
            "slashed RPT",
        ):
            people.add_column(col)
        for addr, m in sorted(miners.items(), key=lambda kv: self.label(kv[0])):
            people.add_row(
                self.label(addr),
                str(m["rollouts"]),
                str(m["pass votes"]),
                str(m["fail votes"]),
                str(m["passed"]),
                str(m["failed"]),
                str(m["forced"]),
                f"{m['paid'] / RPT:.2f}",
                f"{m['slashed'] / RPT:.2f}",
            )
        judges = Table(title="validators", expand=False)
        for col in ("validator", "verdict commits", "settled", "penalized", "paid RPT", "forfeited RPT"):
            judges.add_column(col)
        for addr, v in sorted(validators.items(), key=lambda kv: self.label(kv[0])):
            judges.add_row(
                self.label(addr),
                str(v["commits"]),
                str(v["settled"]),
                str(v["penalized"]),
                f"{v['paid'] / RPT:.2f}",
                f"{v['forfeited'] / RPT:.2f}",
            )
        procs = " ".join(
            f"{n.name}:{'up' if n.running else ('off' if n.proc is None else f'exit {n.returncode}')}"
            for n in self.nodes.values()
        )
        elapsed = time.monotonic() - self.started
        from rich.text import Text

        return Group(Text(f"rollproof devnet  {elapsed:5.0f} s  {procs}"), tasks, people, judges)
