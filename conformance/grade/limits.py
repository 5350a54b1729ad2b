"""Run a command under a sandbox's limits: `python -m conformance.grade.limits [OPTIONS] -- COMMAND`.

The sandbox's worker starts every student server through this wrapper, so the limits bind the
server and whatever it forks, never the suite that checks it. In order, it joins a pids cgroup
(`--cgroup`), makes every mount read-only except the directories named (`--writable`, in a
mount namespace of its own), sets the resource limits, and replaces itself with the command.

It runs from the student's directory, so it imports nothing but the standard library and is
started as `python -I path/to/limits.py`: a student's `argparse.py` must not run before the
limits are in place. A step it cannot take is an error (exit status 125), never a silent
downgrade; the grader probes what works before asking for it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import sys
from pathlib import Path

SETUP_FAILED = 125
CANNOT_EXECUTE = 126
NOT_FOUND = 127
# SIGXCPU warns at the soft limit; SIGKILL follows at the hard one, a moment later.
CPU_GRACE_S = 2

CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_BIND = 0x1000
MS_PRIVATE = 1 << 18
MS_NOSUID = 0x2
MS_NODEV = 0x4
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
# mount_setattr(2) has the same number on every architecture (syscalls added since 5.1 share it).
SYS_MOUNT_SETATTR = 442


class SetupError(Exception):
    """A limit the caller asked for could not be put in place."""


class MountAttr(ctypes.Structure):
    """struct mount_attr of mount_setattr(2)."""

    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Split the wrapper's options from the command after `--`."""
    parser = argparse.ArgumentParser(prog="python -m conformance.grade.limits")
    parser.add_argument("--cpu", type=int, required=True, help="CPU seconds")
    parser.add_argument("--as", dest="address_space", type=int, required=True, help="bytes")
    parser.add_argument("--nofile", type=int, required=True, help="open files")
    parser.add_argument("--fsize", type=int, required=True, help="bytes per written file")
    parser.add_argument("--nproc", type=int, required=True, help="processes (and threads)")
    parser.add_argument("--cgroup", type=Path, help="a pids cgroup directory to join first")
    parser.add_argument(
        "--writable", type=Path, action="append", help="a directory left writable (repeatable)"
    )
    split = argv.index("--") if "--" in argv else len(argv)
    options, command = parser.parse_args(argv[:split]), argv[split + 1 :]
    if not command:
        parser.error("no command after --")
    return options, command


def join_cgroup(directory: Path) -> None:
    """Move this process into a cgroup, so its pids.max counts everything the server forks."""
    try:
        (directory / "cgroup.procs").write_text(f"{os.getpid()}\n")
    except OSError as error:
        raise SetupError(f"cannot join cgroup {directory}: {error.strerror}") from None


def read_only_except(writable: list[Path], shm_bytes: int) -> None:
    """In a mount namespace of our own, make every mount read-only except the `writable` ones.

    Nothing outside the submission's sandbox can then be deleted or rewritten by a server that
    walks up from its directory, and the change is invisible to every other process.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    targets = [os.fsencode(directory.resolve()) for directory in writable]

    def checked(result: int, what: str) -> None:
        if result != 0:
            errno = ctypes.get_errno()
            raise SetupError(f"cannot make the file system read-only: {what}: {os.strerror(errno)}")

    def set_attributes(path: bytes, flags: int, attr_set: int, attr_clr: int) -> None:
        attributes = MountAttr(attr_set, attr_clr, 0, 0)
        size = ctypes.sizeof(attributes)
        checked(
            libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path, flags, ctypes.byref(attributes), size),
            f"mount_setattr {os.fsdecode(path)}",
        )

    checked(libc.unshare(CLONE_NEWNS), "unshare")
    # Private first, so neither the bind mount nor the read-only flags reach the grader's view.
    checked(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
    for target in targets:
        checked(libc.mount(target, target, None, MS_BIND | MS_REC, None), "bind mount")
    set_attributes(b"/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)
    for target in targets:
        set_attributes(target, AT_RECURSIVE, 0, MOUNT_ATTR_RDONLY)
    # Our working directory still points into the mount below the new one: enter it afresh.
    os.chdir(os.getcwd())
    # POSIX semaphores (multiprocessing's locks) need a writable /dev/shm: a fresh one of our own.
    if os.path.isdir("/dev/shm"):
        options = f"mode=1777,size={shm_bytes}".encode()
        checked(
            libc.mount(b"tmpfs", b"/dev/shm", b"tmpfs", MS_NOSUID | MS_NODEV, options),
            "mount /dev/shm",
        )


def user_tasks() -> int:
    """Tasks (threads included) already running as our real uid: RLIMIT_NPROC counts them all."""
    uid, count = os.getuid(), 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            status = Path("/proc", entry, "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1").strip() or 1)
    return count


def set_limit(kind: int, soft: int, hard: int | None = None) -> None:
    """Lower one limit, never asking for more than the current hard limit allows."""
    _, current_hard = resource.getrlimit(kind)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    try:
        resource.setrlimit(kind, (soft, hard))
    except (OSError, ValueError) as error:
        raise SetupError(f"cannot set resource limit {kind}: {error}") from None


def apply_limits(options: argparse.Namespace) -> None:
    """Set every resource limit the options name, and no core files."""
    set_limit(resource.RLIMIT_CPU, options.cpu, options.cpu + CPU_GRACE_S)
    set_limit(resource.RLIMIT_AS, options.address_space)
    set_limit(resource.RLIMIT_NOFILE, options.nofile)
    set_limit(resource.RLIMIT_FSIZE, options.fsize)
    # The limit counts every task of the user, not only ours: allow that many more than now.
    # (Root is exempt from it; the cgroup and the PID namespace bound a server run as root.)
    set_limit(resource.RLIMIT_NPROC, options.nproc + user_tasks())
    # A server killed at the CPU limit would otherwise dump a core file into its directory.
    set_limit(resource.RLIMIT_CORE, 0)


def main(argv: list[str] | None = None) -> None:
    """Put the limits in place and exec the command; exits 125/126/127 like env(1) on failure."""
    options, command = parse(sys.argv[1:] if argv is None else argv)
    try:
        if options.cgroup is not None:
            join_cgroup(options.cgroup)
        if options.writable:
            read_only_except(options.writable, options.fsize)
        apply_limits(options)
    except SetupError as error:
        print(f"h1check sandbox: {error}", file=sys.stderr)
        sys.exit(SETUP_FAILED)
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        print(f"h1check sandbox: command not found: {command[0]}", file=sys.stderr)
        sys.exit(NOT_FOUND)
    except OSError as error:
        print(f"h1check sandbox: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
        sys.exit(CANNOT_EXECUTE)


if __name__ == "__main__":
    main()
