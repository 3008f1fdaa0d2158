"""Memory and CPU time of live processes, read from Linux's /proc (no psutil needed).

`rss` is what `ps` shows: resident pages, anonymous (heap, stacks) and file-backed
(mapped libraries and weights) together. `anon` is the anonymous part alone: where a
leak of Python objects or native buffers shows, without the noise of library pages
being mapped in on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Memory:
    pid: int
    rss: int  # bytes
    anon: int  # bytes

    def __sub__(self, other: Memory) -> Memory:
        return Memory(self.pid, self.rss - other.rss, self.anon - other.anon)


def memory(pid: int) -> Memory:
    """The resident memory of one process, from /proc/<pid>/status."""
    fields: dict[str, int] = {}
    for line in (PROC / str(pid) / "status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0]) * 1024  # reported in kB
    return Memory(pid, fields["VmRSS"], fields["RssAnon"])


def _stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat from its third field (state) on; `proc(5)` numbers them
    from 1, so field n is at index n - 3. The command name before them sits in
    parentheses and may hold spaces."""
    text = (PROC / str(pid) / "stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    """Direct, live (not zombie) children of `pid`."""
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry.name)
        except OSError:  # exited while we looked
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time `pid` has used so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
