"""Reading the process table: which processes live, and who started whom (from /proc).

The template uses it to find everything a sandbox started; the client and the tests
use ``alive`` to see whether a process still runs (not a zombie).
"""

from __future__ import annotations

import os


def process_table(uids: set[int], skip: set[int] = frozenset()) -> tuple[dict[int, list[int]], set[int]]:
    """Living (not zombie) processes by parent pid, and those whose uid is in ``uids``,
    from /proc; the pids in ``skip`` are left out unread. A process that made itself
    non-dumpable shows as root's here, but it cannot leave the tree under the template
    (the template is their subreaper), which is searched too."""
    children: dict[int, list[int]] = {}
    owned: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if fields[0] in (b"Z", b"X"):
                continue
            # /proc/N belongs to the process's uid (sandboxes stay dumpable); unlike
            # /proc/N/status, reading it never waits for an exiting process to unmap.
            if uids and os.stat(f"/proc/{entry}").st_uid in uids:
                owned.add(int(entry))
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children, owned


def children_by_parent() -> dict[int, list[int]]:
    """Living (not zombie) processes by parent pid, from /proc."""
    return process_table(set())[0]


def subtrees(children: dict[int, list[int]], roots: set[int], known_alive: set[int] = frozenset()) -> set[int]:
    found: set[int] = set()
    stack = [pid for pid in roots if pid in known_alive or alive(pid)]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.add(pid)
        stack.extend(children.get(pid, ()))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False
