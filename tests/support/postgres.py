"""A throwaway PostgreSQL for tests: `initdb` into a temp folder, the server on a free
loopback port, databases created on demand, stopped by its pid.

The binaries come from Debian's `postgresql` package (/usr/lib/postgresql/<version>/bin;
`.ci/run` installs it when missing, PERDURE_PG_BIN names another folder). PostgreSQL refuses
to run as root, so as root the cluster belongs to the OS user `postgres` (which the package
creates) and both `initdb` and the server run as that user.

The server is started as our own child (`postgres -D …`, what `pg_ctl start` would run),
not daemonised by `pg_ctl`: that way it gets a parent-death signal and can never outlive
the test process, even when that one is killed, and `stop` ends exactly the pid we started.
`restart` stops and starts it on the same folder and port (outage tests).

    cluster = PostgresCluster.start_new()
    url = cluster.create_database()      # postgresql://perdure@127.0.0.1:PORT/db_1
    cluster.restart()
    cluster.stop()                       # and remove its folder

`shared_cluster()` is one cluster for the whole test process, started on first use and
stopped at exit (tests that need a database each create their own in it).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .ports import free_port

SUPERUSER = "perdure"  # the cluster's superuser (initdb -U), trusted on loopback
OS_USER = "postgres"  # who runs the cluster when we are root
BIN_ENV = "PERDURE_PG_BIN"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
_PR_SET_PDEATHSIG = 1
_names = itertools.count(1)


def postgres_bin() -> Path:
    """The folder with initdb and postgres; fails the test with how to get them."""
    override = os.environ.get(BIN_ENV)
    candidates = [Path(override)] if override else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    pytest.fail(
        "PostgreSQL's server binaries (initdb, postgres) were not found in "
        f"{override or '/usr/lib/postgresql/*/bin'}: install Debian's package "
        "(`apt-get install postgresql`, as .ci/run does) or set "
        f"{BIN_ENV} to the folder holding them",
        pytrace=False,
    )


def _run_as() -> pwd.struct_passwd | None:
    """The OS user to run the cluster as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        pytest.fail(
            f"running as root, but there is no OS user {OS_USER!r} to run PostgreSQL as "
            "(PostgreSQL refuses root); Debian's postgresql package creates it, or "
            f"`useradd --system {OS_USER}`",
            pytrace=False,
        )


def _stop_with_parent() -> None:
    # Runs in the child after the user switch (Popen does setuid before preexec_fn, and a
    # credential change would clear the signal): SIGINT is PostgreSQL's fast shutdown.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


class PostgresCluster:
    """One PostgreSQL server with its data folder; see the module docstring."""

    def __init__(self, root: Path, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        self.root = root
        self.bin_dir = bin_dir
        self.user = user
        self.data_dir = root / "data"
        self.log_path = root / "postgres.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start_new(cls) -> PostgresCluster:
        bin_dir = postgres_bin()
        user = _run_as()
        root = Path(tempfile.mkdtemp(prefix="perdure-pg-"))
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster = cls(root, bin_dir, user)
        try:
            cluster._initdb()
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    # -- processes ---------------------------------------------------------------------

    def _popen(self, argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
        as_user: dict[str, object] = {}
        if self.user is not None:
            as_user = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            argv,
            env=env,
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            preexec_fn=_stop_with_parent,
            **as_user,
            **kwargs,
        )

    def _initdb(self) -> None:
        argv = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",  # a throwaway cluster; the server itself still fsyncs
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            initdb = self._popen(argv, stdout=log, stderr=subprocess.STDOUT)
            code = initdb.wait(timeout=120)
        if code != 0:
            pytest.fail(f"initdb failed ({code}):\n{self._log_tail()}", pytrace=False)

    def start(self) -> None:
        """Start the server (on the same port as before, after a `stop`) and wait until it
        accepts connections."""
        assert self.process is None, "already running"
        self.port = self.port or free_port()
        argv = [
            str(self.bin_dir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={self.root}",
            "-c", "max_connections=300",
            "-c", "log_min_messages=warning",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = self._popen(argv, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                self.process = None
                pytest.fail(f"PostgreSQL did not start:\n{self._log_tail()}", pytrace=False)
            time.sleep(0.05)

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, *, remove: bool = True) -> None:
        """Fast shutdown (SIGINT to the pid we started); with `remove`, delete the folder."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start again on the same folder and port (connections are cut)."""
        self.stop(remove=False)
        self.start()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    # -- databases -----------------------------------------------------------------------

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = name or f"db_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def ensure_database(self, name: str) -> str:
        """The database `name`, created if it does not exist yet; returns its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _log_tail(self, limit: int = 4000) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")[-limit:]
        return ""


_shared: PostgresCluster | None = None


def shared_cluster() -> PostgresCluster:
    """One cluster for this test process: started on first use, stopped at exit."""
    global _shared
    if _shared is None or _shared.process is None:
        _shared = PostgresCluster.start_new()
        atexit.register(_shared.stop)
    return _shared
