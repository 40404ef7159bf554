"""The rules: one stable code per kind of non-determinism, and the names each one knows.

A handler is replayed from its journal after a crash or a suspension, so everything it
does outside ``ctx.run`` must come out the same on every attempt. Each rule names one way
it would not, and the fix that journals the value (or keeps it out of the handler).
Codes never change meaning; a new kind of check gets a new code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    code: str
    name: str  # a short slug, for --json and the docs
    fix: str


TIME = Rule("PD101", "wall-clock", "use `await ctx.time()`, which is journaled")
RANDOM = Rule("PD102", "random", "use `ctx.random()`, seeded by the invocation")
SECRET = Rule(
    "PD102",
    "random",
    "move it into ctx.run (ctx.random() is deterministic, so it is no secret)",
)
UUID = Rule("PD103", "uuid", "use `ctx.uuid()`, the same on every attempt")
ENV = Rule("PD104", "environment", "move it into ctx.run, so the value read is journaled")
IO = Rule("PD105", "io", "move it into ctx.run, so it runs once and its result is journaled")
SET_ITERATION = Rule(
    "PD106",
    "set-iteration",
    "iterate in a fixed order, e.g. over `sorted(...)`",
)
GLOBAL_WRITE = Rule(
    "PD107",
    "global-write",
    "keep it in durable state (`ctx.set`) or a local variable, or move it into ctx.run",
)

# Every code, with its usual fix (PD102 has a second one for secrets).
RULES: dict[str, Rule] = {
    rule.code: rule for rule in (TIME, RANDOM, UUID, ENV, IO, SET_ITERATION, GLOBAL_WRITE)
}

# -- what each rule recognises, as qualified names (after resolving the module's imports) --

# Calls that read a clock. The ones in TIME_WITHOUT_ARGUMENTS only do when called bare.
TIME_CALLS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "time.monotonic",
        "time.monotonic_ns",
        "time.perf_counter",
        "time.perf_counter_ns",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
    }
)
TIME_WITHOUT_ARGUMENTS = frozenset({"time.localtime", "time.gmtime", "time.ctime", "time.asctime"})

# Every call into these modules draws unseeded randomness.
RANDOM_MODULES = ("random",)
SECRET_MODULES = ("secrets",)
SECRET_CALLS = frozenset({"os.urandom", "os.getrandom", "random.SystemRandom"})
# `random.Random(seed)` with a seed is deterministic; bare `random.Random()` is not.
SEEDABLE = "random.Random"

UUID_CALLS = frozenset({"uuid.uuid1", "uuid.uuid4"})

ENV_NAMES = frozenset({"os.environ", "os.environb"})
ENV_CALLS = frozenset({"os.getenv", "os.getenvb", "os.putenv", "os.unsetenv"})

# Any call into these modules (or to these functions) does I/O.
IO_MODULES = (
    "aiofiles",
    "aiohttp",
    "ftplib",
    "glob",
    "http.client",
    "httpx",
    "requests",
    "shutil",
    "smtplib",
    "socket",
    "sqlite3",
    "subprocess",
    "tempfile",
    "urllib.request",
    "urllib3",
)
IO_CALLS = frozenset(
    {
        "builtins.open",
        "builtins.input",
        "io.open",
        "asyncio.open_connection",
        "asyncio.open_unix_connection",
        "asyncio.start_server",
        "asyncio.create_subprocess_exec",
        "asyncio.create_subprocess_shell",
        "os.open",
        "os.read",
        "os.write",
        "os.remove",
        "os.unlink",
        "os.rename",
        "os.replace",
        "os.mkdir",
        "os.makedirs",
        "os.rmdir",
        "os.removedirs",
        "os.listdir",
        "os.scandir",
        "os.walk",
        "os.stat",
        "os.lstat",
        "os.system",
        "os.popen",
        "os.getcwd",
        "os.path.exists",
        "os.path.lexists",
        "os.path.isfile",
        "os.path.isdir",
        "os.path.islink",
        "os.path.getsize",
        "os.path.getmtime",
        "os.path.getatime",
        "os.path.getctime",
        "os.path.realpath",
    }
)
# pathlib classes whose instances touch the file system through these methods.
PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath"})
PATH_CLASS_IO = frozenset({"cwd", "home"})
PATH_IO_METHODS = frozenset(
    {
        "absolute",
        "chmod",
        "exists",
        "expanduser",
        "glob",
        "group",
        "hardlink_to",
        "is_dir",
        "is_file",
        "is_symlink",
        "iterdir",
        "lchmod",
        "lstat",
        "mkdir",
        "open",
        "owner",
        "read_bytes",
        "read_text",
        "readlink",
        "rename",
        "replace",
        "resolve",
        "rglob",
        "rmdir",
        "samefile",
        "stat",
        "symlink_to",
        "touch",
        "unlink",
        "walk",
        "write_bytes",
        "write_text",
    }
)
# Path-valued operations on a path (so `(Path(d) / "x").read_text()` is recognised).
PATH_DERIVED = frozenset({"joinpath", "with_name", "with_stem", "with_suffix", "parent"})

# -- sets and module-level mutables ------------------------------------------------------

SET_CONSTRUCTORS = frozenset({"builtins.set", "builtins.frozenset"})
SET_ANNOTATIONS = frozenset(
    {
        "builtins.set",
        "builtins.frozenset",
        "typing.Set",
        "typing.FrozenSet",
        "typing.AbstractSet",
        "typing.MutableSet",
        "collections.abc.Set",
        "collections.abc.MutableSet",
    }
)
SET_METHODS = frozenset({"union", "intersection", "difference", "symmetric_difference", "copy"})

MUTABLE_CONSTRUCTORS = frozenset(
    {
        "builtins.list",
        "builtins.dict",
        "builtins.set",
        "builtins.bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
    }
)
MUTATING_METHODS = frozenset(
    {
        "add",
        "append",
        "appendleft",
        "clear",
        "discard",
        "extend",
        "extendleft",
        "insert",
        "pop",
        "popitem",
        "popleft",
        "remove",
        "reverse",
        "rotate",
        "setdefault",
        "sort",
        "update",
        "difference_update",
        "intersection_update",
        "symmetric_difference_update",
    }
)
