"""The integrity scan: lines of a submission that reach into the grader or the interpreter.

Some checks run inside the student's process (arguments left unchanged, read-only
arrays, NumPy's warnings): they catch honest mistakes, and code that sets out to defeat
them can. This scan is how the instructor hears of such code. It reads each notebook's
code statically, in the trusted grader (``ast``; nothing is run), and lists the lines
that touch what an assignment never needs: the grader's own package, ``sys.modules``,
torch's internals, the garbage collector's object lists, ``ctypes``, ``ptrace``, frames,
processes and threads started while the notebook runs.

A flag is a pointer for a person, never a verdict: it changes no score, and it is shown
only in the instructor's class report and log. :func:`scan` never raises, whatever the
source holds.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

#: Modules whose import is flagged, and why.
MODULES = {
    "autograder": "imports the grader's own package",
    "grading_tests": "imports the hidden tests' package",
    "ctypes": "loads ctypes (raw memory and C calls)",
    "cffi": "loads cffi (raw memory and C calls)",
    "gc": "uses the garbage collector's object lists",
    "inspect": "inspects frames or other code's objects",
    "multiprocessing": "starts processes",
    "subprocess": "starts processes",
    "threading": "starts threads",
    "_thread": "starts threads",
    "concurrent": "starts threads or processes",
    "signal": "handles signals",
    "socket": "opens sockets",
    "pickle": "unpickles data (runs code)",
    "importlib": "imports modules by name at run time",
    "builtins": "touches the builtins module",
    "sys": None,  # only some uses of sys are flagged (below)
    "os": None,
}
#: Attribute chains (as written) flagged wherever they appear.
ATTRIBUTES = {
    "sys.modules": "reads or changes sys.modules (other modules' internals)",
    "sys.meta_path": "changes how modules are imported",
    "sys.path_hooks": "changes how modules are imported",
    "sys.settrace": "traces other code",
    "sys.setprofile": "traces other code",
    "sys._getframe": "reaches into the caller's frames",
    "sys.addaudithook": "hooks the interpreter",
    "torch._C": "uses torch's C internals",
    "torch.overrides": "changes torch's function dispatch",
    "os.fork": "forks a process",
    "os.forkpty": "forks a process",
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "os.kill": "signals processes",
    "os.killpg": "signals processes",
    "os.ptrace": "traces processes",
    "os.setuid": "changes its user",
    "os.execv": "replaces its process",
    "os.execl": "replaces its process",
    "os.posix_spawn": "starts processes",
    "os._exit": "ends its process at once",
    "gc.get_objects": "walks every object in the process",
    "gc.get_referrers": "finds who holds an object",
}
#: Names whose mere mention is flagged (dunder access that escapes a sandboxed object).
NAMES = {
    "__subclasses__": "walks class hierarchies",
    "__globals__": "reaches a function's globals",
    "__closure__": "reaches a function's closure",
    "__code__": "rewrites or reads code objects",
    "__builtins__": "touches the builtins",
    "f_back": "walks the call stack",
    "f_globals": "reads another frame's globals",
    "f_locals": "reads another frame's variables",
    "ptrace": "traces processes",
    "process_vm_readv": "reads another process's memory",
    "DisableTorchFunction": "switches off torch's function dispatch",
    "_pop_mode_temporarily": "switches off torch's function dispatch",
    "torch_forbidden": "touches the grader's NumPy-only check",
}
#: Calls flagged whatever they are called on.
CALLS = {"exec": "runs code built from text", "eval": "runs code built from text",
         "compile": "compiles code built from text", "__import__": "imports modules by name"}
#: The longest piece of a flagged line kept (the report shows it to the instructor).
MAX_LINE = 160
#: Most flags kept per notebook (a generated wall of them tells nothing more).
MAX_FLAGS = 50


@dataclass(frozen=True)
class Flag:
    """One flagged line: ``cell`` and ``line`` count from 1 among the graded code cells."""

    notebook: str
    cell: int
    line: int
    reason: str
    code: str

    def describe(self) -> str:
        return f"{self.notebook} cell {self.cell} line {self.line}: {self.reason}: {self.code}"


def scan(notebook: str, cells: list[str], skip: frozenset[str] = frozenset()) -> tuple[Flag, ...]:
    """The flagged lines of one notebook's code cells; ``skip``: cells' code that is
    the instructor's (locked cells), not scanned. Never raises."""
    flags: list[Flag] = []
    for number, code in enumerate(cells, start=1):
        if len(flags) >= MAX_FLAGS:
            break
        try:
            if type(code) is not str or code in skip:
                continue
            flags += _scan_cell(notebook, number, code)
        except RecursionError:
            flags.append(Flag(notebook, number, 0, "nested too deep to scan", ""))
        except Exception:  # noqa: BLE001 - a source that breaks the scanner is flagged, not fatal
            flags.append(Flag(notebook, number, 0, "could not be scanned", ""))
    return tuple(flags[:MAX_FLAGS])


def _scan_cell(notebook: str, number: int, code: str) -> list[Flag]:
    lines = code.splitlines()
    try:
        tree = ast.parse(_python_only(code))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []  # not Python (or IPython-only): the grader runs it and reports its error
    found: dict[int, dict[str, None]] = {}  # line -> its reasons, in the order first seen
    for node in ast.walk(tree):
        for reason in _reasons(node):
            found.setdefault(getattr(node, "lineno", 0), {}).setdefault(reason, None)
    flags = []
    for line in sorted(found):
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
        flags.append(Flag(notebook, number, line, "; ".join(found[line]), text[:MAX_LINE]))
    return flags


def _python_only(code: str) -> str:
    """IPython's ``!shell`` and ``%magic`` lines blanked (kept as lines, for numbering)."""
    return "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in code.splitlines())


def _reasons(node: ast.AST):
    if isinstance(node, ast.Import):
        for alias in node.names:
            reason = MODULES.get(alias.name.split(".")[0])
            if reason:
                yield reason
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        root = node.module.split(".")[0]
        if MODULES.get(root):
            yield MODULES[root]
        for alias in node.names:
            chain = f"{node.module}.{alias.name}"
            if chain in ATTRIBUTES:
                yield ATTRIBUTES[chain]
            elif alias.name in NAMES:
                yield NAMES[alias.name]
    elif isinstance(node, ast.Attribute):
        chain = _chain(node)
        for known, reason in ATTRIBUTES.items():
            if chain == known or chain.startswith(known + "."):
                yield reason
                break
        if node.attr in NAMES:
            yield NAMES[node.attr]
    elif isinstance(node, ast.Name):
        if node.id in NAMES:
            yield NAMES[node.id]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
        yield CALLS[node.func.id]
    elif isinstance(node, ast.Constant) and type(node.value) is str and len(node.value) < 200:
        # getattr(sys, "modules"), importlib.import_module("autograder.dispatch")...
        value = node.value
        if value.split(".")[0] in ("autograder", "grading_tests") or value in NAMES:
            yield "names the grader or an interpreter internal in a string"


def _chain(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Subscript) or isinstance(node, ast.Call):
        parts.append("?")
    return ".".join(reversed(parts))
