"""A small file system for a server's data, that a test can fill up or turn read-only.

A tmpfs of a few MiB mounted in a mount namespace of its own (`unshare --mount`), held open
by a `sleep` process that the test started and stops: nothing is mounted where anybody else
looks, and the mount disappears with the holder even if the test dies. The server runs in
that namespace (`nsenter -t HOLDER -m -- …`); the test reaches the files through
/proc/HOLDER/root. Needs root (scripts/test runs as root); otherwise the test is skipped
with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.process import die_with_parent

CHUNK = 1024 * 1024


class SmallDisk:
    """`kind` "tmpfs": a size-limited tmpfs (fill it up). "ext4": an ext4 image on a loop
    device, mounted with errors=remount-ro, so that `fail_read_only` can make the kernel turn
    it read-only under the running server, as it does on an I/O error (`mount -o remount,ro`
    is refused with EBUSY while SQLite holds the database open for writing)."""

    def __init__(self, mountpoint: Path, size_mib: int, kind: str = "tmpfs") -> None:
        self.mountpoint = mountpoint
        self.size_mib = size_mib
        self.kind = kind
        self.image = mountpoint.with_name(mountpoint.name + ".img")
        self._holder: subprocess.Popen[bytes] | None = None

    def _mount_command(self) -> str:
        if self.kind == "tmpfs":
            return f"mount -t tmpfs -o size={self.size_mib}m perdure-test {self.mountpoint}"
        return f"mount -o loop,errors=remount-ro {self.image} {self.mountpoint}"

    def start(self) -> str | None:
        """Mount it; None when done, else why it cannot be (the caller skips)."""
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        if self.kind == "ext4":
            with self.image.open("wb") as image:
                image.truncate(self.size_mib * 1024 * 1024)
            made = subprocess.run(
                ["mkfs.ext4", "-q", "-F", str(self.image)], capture_output=True, text=True
            )
            if made.returncode != 0:
                return f"cannot make an ext4 image: {made.stderr.strip()}"
        script = f"{self._mount_command()} && echo mounted && exec sleep 3600"
        try:
            holder = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=die_with_parent,
            )
        except FileNotFoundError as exc:
            return f"cannot make a small file system: {exc}"
        assert holder.stdout is not None
        line = holder.stdout.readline()
        if line.strip() != b"mounted":
            holder.wait(timeout=10)
            assert holder.stderr is not None
            why = holder.stderr.read().decode(errors="replace").strip()
            return f"cannot mount a {self.kind} in a mount namespace of our own (root?): {why}"
        self._holder = holder
        return None

    def run(self, script: str) -> str:
        """Run a shell script in the disk's mount namespace; its output (fails the test on
        a non-zero exit)."""
        done = subprocess.run(
            [*self.enter(), "sh", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{script}: {done.stdout}{done.stderr}"
        return done.stdout

    def fail_read_only(self) -> None:
        """ext4: report a file-system error; with errors=remount-ro the kernel makes the
        mount read-only at once (writes then fail with EIO), open files or not."""
        device = self.run(f"grep ' {self.mountpoint} ' /proc/mounts | cut -d' ' -f1").strip()
        self.run(f"echo perdure-test > /sys/fs/ext4/{Path(device).name}/trigger_fs_error")

    def repair(self) -> None:
        """ext4, the server stopped: unmount, fsck, mount again (what an operator does)."""
        self.run(
            f"umount {self.mountpoint} && e2fsck -fy {self.image} >/dev/null; "
            f"{self._mount_command()}"
        )

    @property
    def pid(self) -> int:
        assert self._holder is not None
        return self._holder.pid

    def enter(self) -> list[str]:
        """The argv prefix that runs a command in the disk's mount namespace."""
        return ["nsenter", "-t", str(self.pid), "-m", "--"]

    def path(self, relative: str = "") -> Path:
        """A path inside the mount, as this process reaches it."""
        return Path(f"/proc/{self.pid}/root") / self.mountpoint.relative_to("/") / relative

    def integrity_check(self, relative: str) -> str:
        """`PRAGMA integrity_check` of an SQLite file in the mount, run inside the namespace
        (SQLite resolves /proc/PID/root like a symlink, so it cannot open it from here)."""
        script = (
            "import sqlite3, sys\n"
            "conn = sqlite3.connect(sys.argv[1])\n"
            "print(', '.join(str(r[0]) for r in conn.execute('PRAGMA integrity_check')))\n"
        )
        done = subprocess.run(
            [*self.enter(), sys.executable, "-c", script, str(self.mountpoint / relative)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout.strip() or done.stderr.strip()

    def fill(self) -> int:
        """Write a ballast file until the file system is full; the bytes it took."""
        written = 0
        with self.path("ballast").open("ab", buffering=0) as ballast:
            for size in (CHUNK, 64 * 1024, 4096, 512, 1):
                block = b"\0" * size
                while True:
                    try:
                        n = ballast.write(block)
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
                    written += n or 0
                    if not n:
                        break
        return written

    def free(self) -> None:
        self.path("ballast").unlink(missing_ok=True)

    def stop(self) -> None:
        holder, self._holder = self._holder, None
        if holder is not None:
            with contextlib.suppress(ProcessLookupError):
                holder.send_signal(signal.SIGTERM)
            holder.wait(timeout=10)
            for pipe in (holder.stdout, holder.stderr):
                if pipe is not None:
                    pipe.close()
