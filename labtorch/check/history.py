"""Every check run, stored in SQLite under labtorch's state directory.

The state directory is ``$LABTORCH_STATE_DIR`` if set, else ``$XDG_STATE_HOME/labtorch``, else
``~/.local/state/labtorch``; the database is ``history.sqlite`` there. Each run is kept whole
(its JSON) plus one row per host, so the trend (hosts compliant over time, per room) is one query.

>>> import tempfile
>>> from labtorch.check.model import CheckRun
>>> with tempfile.TemporaryDirectory() as tmp:
...     with History(Path(tmp) / "h.sqlite") as h:
...         run_id = h.add(CheckRun("2026-01-01T00:00:00Z", "room1.py", ()))
...         h.latest().inventory
'room1.py'
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from types import TracebackType

from labtorch.check.model import CheckRun, TrendPoint
from labtorch.errors import LabtorchError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    inventory TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    duration_s REAL NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS host_results (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    host TEXT NOT NULL,
    room TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (run_id, host)
);
CREATE INDEX IF NOT EXISTS runs_inventory ON runs (inventory, started_at);
"""


def state_dir() -> Path:
    """labtorch's state directory (not created here)."""
    if os.environ.get("LABTORCH_STATE_DIR"):
        return Path(os.environ["LABTORCH_STATE_DIR"])
    if os.environ.get("XDG_STATE_HOME"):
        return Path(os.environ["XDG_STATE_HOME"]) / "labtorch"
    return Path.home() / ".local" / "state" / "labtorch"


def default_path() -> Path:
    return state_dir() / "history.sqlite"


class History:
    """The run history. Use as a context manager; the file and its folder are created on open."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise LabtorchError(
                f"cannot open the check history {self.path}: {err}",
                fix="set LABTORCH_STATE_DIR to a writable folder",
            ) from err

    def __enter__(self) -> History:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def add(self, run: CheckRun) -> int:
        """Store one run; returns its id."""
        with self._db:
            cursor = self._db.execute(
                "INSERT INTO runs (started_at, inventory, exit_code, duration_s, report)"
                " VALUES (?, ?, ?, ?, ?)",
                (run.started_at, run.inventory, run.exit_code, run.duration_s,
                 json.dumps(run.to_dict())),
            )
            run_id = int(cursor.lastrowid or 0)
            self._db.executemany(
                "INSERT INTO host_results (run_id, host, room, status) VALUES (?, ?, ?, ?)",
                [(run_id, h.host, h.room, h.status) for h in run.hosts],
            )
        return run_id

    def latest(self, inventory: str | None = None) -> CheckRun | None:
        """The newest run (of one inventory, if given), or None when nothing is stored."""
        query = "SELECT report FROM runs"
        args: tuple[str, ...] = ()
        if inventory is not None:
            query += " WHERE inventory = ?"
            args = (inventory,)
        row = self._db.execute(query + " ORDER BY started_at DESC, id DESC LIMIT 1",
                               args).fetchone()
        return CheckRun.from_dict(json.loads(row[0])) if row else None

    def inventories(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT inventory FROM runs ORDER BY 1")]

    def trend(self, inventory: str | None = None, last: int = 60) -> list[TrendPoint]:
        """Compliant and total hosts per room for each of the ``last`` runs, oldest first."""
        where = ""
        args: tuple[str, ...] = ()
        if inventory is not None:
            where, args = "WHERE inventory = ?", (inventory,)
        runs = self._db.execute(
            f"SELECT id FROM runs {where} ORDER BY started_at DESC, id DESC LIMIT ?",
            (*args, last),
        ).fetchall()
        ids = [r[0] for r in runs]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(
            "SELECT r.started_at, h.room,"
            " SUM(CASE WHEN h.status IN ('pass', 'skipped', 'simulated') THEN 1 ELSE 0 END),"
            " COUNT(*)"
            f" FROM host_results h JOIN runs r ON r.id = h.run_id WHERE r.id IN ({marks})"
            " GROUP BY r.id, h.room ORDER BY r.started_at, r.id, h.room",
            ids,
        ).fetchall()
        return [TrendPoint(started_at=s, room=room, compliant=int(c), total=int(t))
                for s, room, c, t in rows]
