"""Claims, failure markers and queue markers: the files beside a cell's result that say who
computes it, what went wrong, and what is waiting.

Beside a cell's result ``<cell>.json`` (:func:`stbench.results.document.cell_path`: e.g.
``<results>/<cohort>/<model>/fold<k>.json``, ``fold<k>-seed<s>.json`` for seeds other than 0) it may have:

* ``<cell>.claim``: JSON (host, pid, SLURM job / array ids, start time, a random token) written
  atomically by the process computing the cell; its modification time is a heartbeat, touched
  every :data:`HEARTBEAT_S` seconds while the cell runs.
* ``<cell>.failed``: JSON (message, log path, ids, when) left by a failed attempt.
* ``<cell>.queued``: JSON left by a launcher for a cell it has scheduled but not started.

A claim is created with ``os.link`` of a finished temp file, so it appears whole or not at all,
and only one of several racing launchers gets it. A claim is *stale* when its process is dead
(same host), its SLURM job is no longer queued or running, or its heartbeat is older than
``stale_after`` seconds; a stale claim may be taken over.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stbench.results import document as results

HEARTBEAT_S = 30.0
DEFAULT_STALE_AFTER_S = 1800.0
SLURM_ACTIVE = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                "REQUEUE_FED", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "STOPPED"}


def claim_path(cell: Path) -> Path:
    """The claim of the cell whose :func:`~stbench.results.document.cell_path` is ``cell``."""
    return Path(cell).with_suffix(".claim")


def failed_path(cell: Path) -> Path:
    """The failure marker of the cell at ``cell`` (its :func:`~stbench.results.document.cell_path`)."""
    return Path(cell).with_suffix(".failed")


def queued_path(cell: Path) -> Path:
    """The queue marker of the cell at ``cell`` (its :func:`~stbench.results.document.cell_path`)."""
    return Path(cell).with_suffix(".queued")


def slurm_ids() -> dict[str, str | None]:
    """This process's SLURM job, array job and array task ids (``None`` outside SLURM)."""
    env = os.environ
    return {
        "slurm_job_id": env.get("SLURM_JOB_ID"),
        "slurm_array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "slurm_array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
    }


def job_label(doc: dict[str, Any]) -> str:
    """``"1234_5"`` for an array task, ``"1234"`` for a job, ``"pid 99@host"`` outside SLURM."""
    if doc.get("slurm_array_job_id"):
        return f"{doc['slurm_array_job_id']}_{doc.get('slurm_array_task_id')}"
    if doc.get("slurm_job_id"):
        return str(doc["slurm_job_id"])
    if doc.get("pid"):
        return f"pid {doc['pid']}@{doc.get('host', '?')}"
    return "—"


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def _holder() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), **slurm_ids(),
            "started_at": time.time(), "token": uuid.uuid4().hex}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def slurm_job_states(job_ids: list[str]) -> dict[str, str] | None:
    """``{job id: state}`` from ``squeue`` for the jobs still known to it; ``None`` without squeue."""
    if not job_ids:
        return {}
    try:
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-r", "-o", "%i %T", "-j", ",".join(sorted(set(job_ids)))],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    states: dict[str, str] = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


def _slurm_key(doc: dict[str, Any]) -> str | None:
    if doc.get("slurm_array_job_id"):
        return f"{doc['slurm_array_job_id']}_{doc.get('slurm_array_task_id')}"
    return doc.get("slurm_job_id")


def stale_reason(doc: dict[str, Any], mtime: float, stale_after: float | None) -> str | None:
    """Why the claim ``doc`` (file modified at ``mtime``) is stale, or ``None`` when it is live."""
    key = _slurm_key(doc)
    if key is not None:
        states = slurm_job_states([key])
        if states is not None and states.get(key) not in SLURM_ACTIVE:
            return f"SLURM job {key} is no longer running"
    elif doc.get("host") == socket.gethostname() and isinstance(doc.get("pid"), int) and not _pid_alive(doc["pid"]):
        return f"process {doc['pid']} on {doc['host']} is dead"
    age = time.time() - mtime
    if stale_after is not None and age > stale_after:
        return f"its heartbeat is {age / 60:.0f} min old (--stale-after {stale_after / 60:.0f} min)"
    return None


def _same_slurm_task(doc: dict[str, Any]) -> bool:
    """Whether ``doc`` was written by this SLURM task in an earlier life (a requeued task)."""
    mine = slurm_ids()
    return mine["slurm_job_id"] is not None and all(doc.get(k) == v for k, v in mine.items())


@dataclass
class Claim:
    """A claim this process holds; :meth:`release` removes it (only if it is still ours)."""

    path: Path
    document: dict[str, Any]
    _stop: threading.Event | None = None

    def start_heartbeat(self, every: float = HEARTBEAT_S) -> None:
        self._stop = threading.Event()

        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    os.utime(self.path)
                except OSError:
                    return

        threading.Thread(target=beat, name="stbench-claim-heartbeat", daemon=True).start()

    def release(self) -> None:
        if self._stop is not None:
            self._stop.set()
        current = read_json(self.path)
        if current is not None and current.get("token") == self.document["token"]:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class ClaimAttempt:
    """The outcome of :func:`acquire`: ``claim`` when we hold it, else who does."""

    claim: Claim | None
    holder: dict[str, Any] | None = None
    message: str = ""


def _create(path: Path, doc: dict[str, Any]) -> bool:
    """Atomically create ``path`` holding ``doc``; False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


def acquire(path: Path, stale_after: float | None = DEFAULT_STALE_AFTER_S) -> ClaimAttempt:
    """Claim the cell whose claim file is ``path``, taking over a stale claim (with a message)."""
    doc = _holder()
    for _ in range(3):
        if _create(path, doc):
            return ClaimAttempt(Claim(path, doc))
        try:
            held, mtime = read_json(path), path.stat().st_mtime
        except FileNotFoundError:
            continue  # released between our attempt and the read: try again
        if held is None:  # unreadable: a claim is written whole, so this is not ours to judge yet
            held = {}
        own = _same_slurm_task(held)
        reason = f"SLURM task {job_label(held)} was requeued" if own else stale_reason(held, mtime, stale_after)
        if reason is None:
            return ClaimAttempt(None, held, f"claimed by {job_label(held)} since {_ago(held)}")
        # take the stale claim out of the way; only one racer renames the file it read
        aside = path.with_name(f".{path.name}.{doc['token']}.stale")
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        moved = read_json(aside) or {}
        if moved.get("token") != held.get("token"):  # someone else's fresh claim: put it back
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            continue
        aside.unlink(missing_ok=True)
        if _create(path, doc):
            what = "its own claim" if own else f"the stale claim of {job_label(held)}"
            return ClaimAttempt(Claim(path, doc), held, f"took over {what}: {reason}")
    held = read_json(path) or {}
    return ClaimAttempt(None, held, f"claimed by {job_label(held)}")


def _ago(doc: dict[str, Any]) -> str:
    started = doc.get("started_at")
    if not isinstance(started, (int, float)):
        return "an unknown time"
    return f"{(time.time() - started) / 60:.1f} min"


def write_marker(path: Path, doc: dict[str, Any]) -> None:
    """Write a ``.failed`` / ``.queued`` marker atomically."""
    results.write_json_atomic(path, {"host": socket.gethostname(), "written_at": time.time(), **doc})
