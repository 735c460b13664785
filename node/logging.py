"""Structured logging for nodes: rich text on a terminal, or JSON lines (one object per line).

Extra fields passed with `log.info("...", extra={"task_id": 7})` appear as keys of the JSON
object, so logs of many nodes can be merged and filtered by task, role or miner.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
MAX_FIELD_CHARS = 4096


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    return str(value)[:MAX_FIELD_CHARS]


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, msg, node, plus the record's extra fields."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if self.node:
            out["node"] = self.node
        for key, value in record_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a record: its `extra=` attributes, with `fields={...}` flattened."""
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _RECORD_FIELDS or key.startswith("_"):
            continue
        if key == "fields" and isinstance(value, dict):
            for k, v in value.items():
                out.setdefault(str(k), _jsonable(v))
        else:
            out[key] = _jsonable(value)
    return out


class TextWithFieldsFormatter(logging.Formatter):
    """`[node] message key=value ...` for the terminal; `stamped` adds time and level (for a
    stream that is not a terminal, where no rich handler prints them)."""

    def __init__(self, node: str | None = None, *, stamped: bool = False) -> None:
        super().__init__()
        self.node = node
        self.stamped = stamped

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        extras = " ".join(f"{k}={v}" for k, v in record_fields(record).items())
        prefix = f"[{self.node}] " if self.node else ""
        if self.stamped:
            prefix = (
                f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.levelname} {prefix}"
            )
        line = f"{prefix}{text}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(
    level: str = "info",
    *,
    json_lines: bool = False,
    log_file: str | Path | None = None,
    node: str | None = None,
    stream: TextIO | None = None,
) -> logging.Logger:
    """Configure the root logger once for a node process (replaces handlers set up earlier).

    `json_lines` writes JSON to `stream` (stderr by default); otherwise a rich handler on a
    terminal, plain stamped lines elsewhere (a devnet node's log file). `log_file` additionally
    appends JSON lines to a file, whatever the console format. The CLI and `python -m node.roles`
    (the devnet's nodes) both log through this one function.
    """
    numeric = getattr(logging, level.upper(), None)
    if not isinstance(numeric, int):
        raise ValueError(f"{level!r} is not a log level; use debug, info, warning or error.")
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(numeric)
    out = stream or sys.stderr
    if json_lines:
        console: logging.Handler = logging.StreamHandler(out)
        console.setFormatter(JsonLinesFormatter(node))
    elif not (hasattr(out, "isatty") and out.isatty()):
        console = logging.StreamHandler(out)
        console.setFormatter(TextWithFieldsFormatter(node, stamped=True))
    else:
        from rich.console import Console
        from rich.logging import RichHandler

        console = RichHandler(
            console=Console(file=out, stderr=out is sys.stderr),
            show_path=False,
            rich_tracebacks=False,
            markup=False,
        )
        console.setFormatter(TextWithFieldsFormatter(node))
    root.addHandler(console)
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(JsonLinesFormatter(node))
        root.addHandler(file_handler)
    # Libraries that are chatty at INFO would drown the node's own lines.
    for noisy in (
        "httpx",
        "httpcore",
        "urllib3",
        "web3",
        "alembic",
        "multiaddr",
        "libp2p",
        "asyncio",
        "async_service",
        "filelock",
    ):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    return root
