"""Confinement in layers, each applied where the kernel and the grader's privileges allow.

=============  ==============================================  =========================
layer          what it stops                                    needs
=============  ==============================================  =========================
namespaces     network, IPC, PID, a mount namespace hiding      root with CAP_SYS_ADMIN,
               files (``autograder.sandbox.limits``, ``pidns``) or user namespaces
uid            a fresh uid per sandbox: no signals, traces or   root (CAP_SETUID, which
               files across sandboxes; its own process cap      Docker keeps)
landlock       files outside a read-only allowlist, TCP,        Linux 5.13+ (ABI 4: TCP,
               signals out of the sandbox (``landlock``)        ABI 6: signal scope)
seccomp        new namespaces, mounts, ptrace, bpf...; sockets  libseccomp (no privilege)
               but AF_UNIX and kill(-1) where no namespace
               does it (``seccomp``)
cgroups        memory incl. children and kernel memory,         write access to a cgroup
               processes, a fair CPU share (``cgroups``)        hierarchy (root)
=============  ==============================================  =========================

rlimits (``autograder.sandbox.limits``) apply everywhere. ``level`` names what applied, the
way the grader's log, the class report and results.json say it: ``"full"``, or
e.g. ``"no-namespaces: uid+landlock+seccomp+cgroups"`` (root in Docker) or
``"no-uid,no-cgroups: namespaces+landlock+seccomp"`` (a user with user namespaces).
``meets`` checks a level against what ``--require-isolation`` asks for.
"""

from __future__ import annotations

#: The layers, strongest first.
LAYERS = ("namespaces", "uid", "landlock", "seccomp", "cgroups")


def layers_applied(applied: dict) -> list[str]:
    """The layers a sandbox's confinement report (``autograder.sandbox.limits.confine``) shows."""
    present = []
    if applied.get("network") and applied.get("mounts", True) and (applied.get("userns") or applied.get("root_namespaces")):
        present.append("namespaces")
    if applied.get("fresh_uid"):
        present.append("uid")
    if (applied.get("landlock") or {}).get("files"):  # its scopes (ABI 6) are reported apart
        present.append("landlock")
    seccomp = applied.get("seccomp") or {}
    if seccomp and "unavailable" not in seccomp:
        present.append("seccomp")
    if set(applied.get("cgroups") or ()) >= {"memory", "pids", "cpu"}:
        present.append("cgroups")
    return present


def level(present) -> str:
    """``"full"``, ``"none"``, or ``"no-A,no-B: C+D"`` for the layers in ``present``."""
    present = [layer for layer in LAYERS if layer in set(present)]
    if len(present) == len(LAYERS):
        return "full"
    if not present:
        return "none"
    missing = ",".join(f"no-{layer}" for layer in LAYERS if layer not in present)
    return f"{missing}: {'+'.join(present)}"


def required_layers(requirement: str) -> set[str]:
    """What ``--require-isolation`` asks for: ``full``, ``none``, a level as ``level``
    writes it, or layers joined by ``+`` (``landlock+seccomp``). ``ValueError`` if not."""
    text = requirement.strip()
    if text == "full":
        return set(LAYERS)
    if text == "none":
        return set()
    text = text.split(":", 1)[1] if ":" in text else text
    layers = {part.strip() for part in text.split("+") if part.strip()}
    unknown = layers - set(LAYERS)
    if unknown or not layers:
        raise ValueError(f"unknown isolation level {requirement!r}: use full, none, or layers joined by + "
                         f"from {', '.join(LAYERS)}")
    return layers


def meets(present, requirement: str) -> bool:
    return required_layers(requirement) <= set(present)
