"""cgroups: one per sandbox, so memory, processes and CPU are counted per sandbox.

rlimits count per process (``RLIMIT_AS``) or per uid (``RLIMIT_NPROC``): three forked
children each get the full address space, kernel memory (socket buffers, page
tables) is not counted at all, and 60 busy processes get 60 shares of the CPU. A
cgroup counts the sandbox and everything it starts, whatever it does:

* memory: ``memory.max`` (v2), or ``memory.limit_in_bytes`` with
  ``memory.memsw.limit_in_bytes`` (no escape into swap) and ``memory.kmem.tcp`` (TCP
  buffers, which v1 counts apart) where they exist (v1). Both count kernel memory
  (slab, page tables, unix socket buffers) with the rest. Past the cap the kernel's
  OOM killer stops a process of that sandbox, and of no other;
* processes: ``pids.max`` (threads included);
* CPU: each sandbox its own group of the default weight (``cpu.weight`` /
  ``cpu.shares``), so its 60 busy processes weigh what one busy process does, against
  an honest neighbour and against the rest of the machine alike. (v1: beside the
  grader's own group, so that other load on the machine does not squeeze the
  sandboxes into one share; v2, where only a group without processes may hand
  controllers down: in the parent, which weighs one busy process per core.)

The trusted side does all of it: ``Cgroups`` (made in the template, as the user the
grader runs as) makes a parent group beside its own; each forked sandbox calls
``enter`` before it confines itself and runs any student code; the template calls
``remove`` once the sandbox and all it started are gone. Each controller is looked
up in the v1 hierarchy it is mounted on, or in the v2 one; where neither lets the
grader make groups (an unprivileged user, a container whose /sys/fs/cgroup is
read-only), ``unavailable`` says why and grading goes on without them.
"""

from __future__ import annotations

import os

CONTROLLERS = ("memory", "pids", "cpu")
#: The kernel's default weights: a sandbox weighs what one ordinary process does.
_V1_SHARES, _V2_WEIGHT = 1024, 100


class Cgroups:
    """A parent group per template, per controller; a child per sandbox."""

    def __init__(self, name: str | None = None):
        self.name = name or f"backprop-{os.getpid()}"
        # controller -> (folder the sandboxes' groups go in, version, their names' prefix)
        self.parents: dict[str, tuple[str, int, str]] = {}
        self.unavailable: dict[str, str] = {}
        for controller, (base, version) in _own_groups().items():
            _remove_stale(base)
            if controller == "cpu" and version == 1:
                if os.access(base, os.W_OK):
                    self.parents[controller] = (base, version, f"{self.name}-sandbox-")
                else:
                    self.unavailable[controller] = f"cannot make a group under {base} (Permission denied)"
                continue
            parent = os.path.join(base, self.name)
            try:
                os.makedirs(parent, exist_ok=True)
                if version == 2:
                    _enable(base, parent)
                    if controller == "cpu":
                        _write(parent, "cpu.weight", _V2_WEIGHT * (os.cpu_count() or 1))
                self.parents[controller] = (parent, version, "sandbox-")
            except OSError as error:
                self.unavailable[controller] = f"cannot make a group under {base} ({error.strerror})"
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
        for controller in CONTROLLERS:
            if controller not in self.parents and controller not in self.unavailable:
                self.unavailable[controller] = "not mounted"

    @property
    def applied(self) -> list[str]:
        return [controller for controller in CONTROLLERS if controller in self.parents]

    def _dirs(self, key) -> list[tuple[str, str, int]]:
        return [(controller, os.path.join(parent, f"{prefix}{key}"), version)
                for controller, (parent, version, prefix) in self.parents.items()]

    def enter(self, key, memory_bytes: int, max_processes: int) -> dict:
        """Make the groups of sandbox ``key``, set its limits and move the calling
        process into them. Returns ``{"cgroups": [...], "cgroups_missing": {...}}``."""
        done, missing = [], dict(self.unavailable)
        for controller, path, version in self._dirs(key):
            try:
                os.makedirs(path, exist_ok=True)
                if controller == "memory":
                    _limit_memory(path, version, memory_bytes)
                elif controller == "pids":
                    _write(path, "pids.max", max_processes)
                elif controller == "cpu":
                    _write(path, "cpu.weight" if version == 2 else "cpu.shares", _V2_WEIGHT if version == 2 else _V1_SHARES)
                _write(path, "cgroup.procs", 0)
                done.append(controller)
            except OSError as error:
                missing[controller] = f"{path}: {error.strerror}"
        return {"cgroups": done, "cgroups_missing": missing}

    def members(self, key) -> set[int]:
        """Every process in sandbox ``key``'s groups (what it forked, wherever it went)."""
        pids: set[int] = set()
        for _, path, _ in self._dirs(key):
            try:
                with open(os.path.join(path, "cgroup.procs")) as handle:
                    pids.update(int(line) for line in handle if line.strip())
            except (OSError, ValueError):
                continue
        return pids

    def remove(self, key) -> bool:
        """Remove sandbox ``key``'s groups; False while a process is still in one."""
        clean = True
        for _, path, _ in self._dirs(key):
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                clean = False
        return clean

    def close(self) -> None:
        """Remove the groups left and the parent groups (their processes must be gone)."""
        for parent, _, prefix in self.parents.values():
            for entry in os.listdir(parent) if os.path.isdir(parent) else ():
                if entry.startswith(prefix):
                    try:
                        os.rmdir(os.path.join(parent, entry))
                    except OSError:
                        pass
            if prefix == "sandbox-":
                try:
                    os.rmdir(parent)
                except OSError:
                    pass
        self.parents.clear()


def _remove_stale(base: str) -> None:
    """Remove the empty groups a grader that was killed left beside its own (its pid is
    in their names and no longer runs); a group that holds a process stays."""
    try:
        entries = os.listdir(base)
    except OSError:
        return
    for entry in entries:
        owner = entry[len("backprop-"):].split("-", 1)[0] if entry.startswith("backprop-") else ""
        if not owner.isdigit() or os.path.exists(f"/proc/{owner}"):
            continue
        folder = os.path.join(base, entry)
        for child in os.listdir(folder) if os.path.isdir(folder) else ():
            if child.startswith("sandbox-"):
                try:
                    os.rmdir(os.path.join(folder, child))
                except OSError:
                    pass
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _write(directory: str, name: str, value) -> None:
    with open(os.path.join(directory, name), "w") as handle:
        handle.write(str(value))


def _limit_memory(path: str, version: int, memory_bytes: int) -> None:
    if version == 2:
        _write(path, "memory.max", memory_bytes)
        try:
            _write(path, "memory.swap.max", 0)
        except OSError:
            pass  # no swap accounting: nothing to escape into either
        return
    _write(path, "memory.limit_in_bytes", memory_bytes)
    # Optional in v1, each where the kernel has it; memsw must not be below the limit.
    for name in ("memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"):
        try:
            _write(path, name, memory_bytes)
        except OSError:
            pass


def _enable(base: str, parent: str) -> None:
    """v2: hand memory, pids and cpu down to the parent's children (the parent holds no
    process, so this is allowed; ``base`` may refuse if it holds some: then v2 groups
    are not available here)."""
    with open(os.path.join(base, "cgroup.subtree_control")) as handle:
        enabled = set(handle.read().split())
    wanted = [c for c in CONTROLLERS if c not in enabled]
    if wanted:
        _write(base, "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
    _write(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in CONTROLLERS))


def _own_groups() -> dict[str, tuple[str, int]]:
    """For each controller, the directory of this process's own group and the cgroup
    version that serves it: v1 where the controller is mounted there, else v2."""
    mounts_v1: dict[str, str] = {}
    mount_v2 = None
    try:
        with open("/proc/self/mountinfo") as handle:
            for line in handle:
                left, _, right = line.partition(" - ")
                fields, tail = left.split(), right.split()
                if len(fields) < 5 or len(tail) < 3:
                    continue
                if tail[0] == "cgroup2":
                    mount_v2 = mount_v2 or fields[4]
                elif tail[0] == "cgroup":
                    for option in tail[2].split(","):
                        if option in CONTROLLERS:
                            mounts_v1[option] = fields[4]
        with open("/proc/self/cgroup") as handle:
            own = [line.rstrip("\n").split(":", 2) for line in handle]
    except OSError:
        return {}
    groups: dict[str, tuple[str, int]] = {}
    for _, names, path in own:
        for controller in names.split(","):
            if controller in mounts_v1:
                groups[controller] = (mounts_v1[controller] + path.rstrip("/"), 1)
    v2_path = next((path for number, names, path in own if number == "0" and names == ""), None)
    if mount_v2 and v2_path is not None:
        base = mount_v2 + v2_path.rstrip("/")
        try:
            with open(os.path.join(base, "cgroup.controllers")) as handle:
                offered = set(handle.read().split())
        except OSError:
            offered = set()
        for controller in CONTROLLERS:
            if controller not in groups and controller in offered:
                groups[controller] = (base, 2)
    return groups
