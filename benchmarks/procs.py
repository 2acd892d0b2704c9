"""Processes of a benchmark: CPU pinning, CPU time and resident memory from ``/proc``.

- ``pin(pid, cpus)`` sets the affinity of every thread of ``pid`` and of its descendants
  (threads and children created later inherit it), e.g. a Postgres postmaster already
  running with its background processes.
- ``cpu_seconds(pid)``: utime + stime of ``pid`` and every descendant alive now, plus the
  cutime + cstime of the root (what its reaped children used), from ``/proc/<pid>/stat``;
  the difference of two readings is the CPU a process tree spent between them, even if
  backends come and go.
- ``rss_kb(pid)``: VmRSS of ``pid`` and its descendants (shared pages counted once per
  process: with one worker that is one process).
"""

import contextlib
import os
import subprocess
from collections.abc import Iterable
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            raw = handle.read()
    except OSError:
        return None
    # the command name is in parentheses and may hold spaces: split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    return parents


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants alive now."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def cpu_seconds(pid: int) -> float:
    ticks = 0
    for member in tree(pid):
        fields = _stat_fields(member)
        if fields is None:
            continue
        # after the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
        ticks += int(fields[11]) + int(fields[12])
        if member == pid:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / TICKS


def rss_kb(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def tree_rss_kb(pid: int) -> int:
    return rss_kb(tree(pid))


def pin(pid: int, cpus: set[int]) -> None:
    for member in tree(pid):
        try:
            threads = [int(t) for t in os.listdir(f"/proc/{member}/task")]
        except OSError:
            continue
        for thread in threads:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(thread, cpus)


def popen(command: list[str], cpus: set[int] | None, **kwargs: Any) -> "subprocess.Popen[bytes]":
    """Start ``command`` on ``cpus`` (None: every CPU) in a session of its own (see ``stop``)."""
    chosen = cpus if cpus is not None else set(range(os.cpu_count() or 1))

    def preexec() -> None:
        os.sched_setaffinity(0, chosen)

    return subprocess.Popen(command, preexec_fn=preexec, start_new_session=True, **kwargs)  # noqa: S603


def stop(process: subprocess.Popen[bytes] | None, timeout_s: float = 15) -> None:
    """SIGTERM the process's session (it was started with ``start_new_session``), then SIGKILL."""
    if process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, 15)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)
        process.wait(timeout=5)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0))
