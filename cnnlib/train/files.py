"""The files a run writes, written safely: atomic writes, a lock per output folder, no silent overwrite.

Every file is first written to ``NAME.tmp<PID>`` in the same folder and then renamed over ``NAME``
(:func:`os.replace` is atomic on POSIX and Windows), so a reader never sees half a file; a failed write removes
its temporary file, and one left by a killed process is removed by the next run in that folder. While a run
writes into a folder it holds ``.lock`` there (created with ``O_EXCL``), so a second run into the same folder
stops with an error instead of interleaving checkpoints; the lock of a killed run (its process gone from this
host) is taken over, so a resumable script can simply be started again.
"""

from __future__ import annotations

import json
import math
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

__all__ = [
    "CHECKPOINT_NAME",
    "LOCK_NAME",
    "METRICS_NAME",
    "RunDirError",
    "WriteError",
    "atomic_write",
    "atomic_write_json",
    "json_safe",
    "run_dir",
]

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
LOCK_NAME = ".lock"
#: The files of a finished or interrupted run: a run without ``resume`` refuses a folder that holds one of them.
_RUN_FILES = (CHECKPOINT_NAME, METRICS_NAME)


class RunDirError(ValueError):
    """The output folder cannot take this run: it is a file, not writable, holds another run, or is in use."""


class WriteError(OSError):
    """A result could not be written (disk full, permissions...); the message names the file."""


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file in the same folder, then rename it.

    Raises:
        WriteError: the write failed (the temporary file is removed; an earlier ``path`` stays as it was).
    """
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise WriteError(f"could not write {path}: {err.strerror or err}") from err
        raise


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN; ``null`` it has)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def atomic_write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented, strict JSON (non-finite floats as ``null``) with :func:`atomic_write`."""
    text = json.dumps(json_safe(value), indent=2, allow_nan=False) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


#: Lock files this process holds, with how many :func:`run_dir` contexts use each (the CLI's and ``fit``'s).
_held: dict[Path, int] = {}


@contextmanager
def run_dir(out: Path, *, resume: bool, write: bool = True) -> Iterator[Path]:
    """Check that ``out`` can take a run, and hold its lock while the ``with`` block runs.

    Creates ``out`` if needed; refuses a file, a folder it cannot write, and (without ``resume``) a folder that
    already holds a run's checkpoint or metrics; removes temporary files left by killed writes. Re-entrant within
    one process, so the CLI can check the folder before it loads data and :func:`~cnnlib.train.fit` inside it.

    Args:
        out: the run's folder.
        resume: the run continues the one in ``out`` (its files may be there).
        write: this process writes files (rank 0); the others only check.

    Raises:
        RunDirError: with a one-line reason.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"output folder {out} is a file: choose another --out")
    if not resume:
        existing = [name for name in _RUN_FILES if (out / name).exists()]
        if existing:
            raise RunDirError(f"{out} already holds a run ({', '.join(existing)}): pass --resume (resume=True) to "
                              "continue it, or choose another --out (out_dir) for a new run")
    if not write:
        yield out
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot create output folder {out}: {err.strerror or err}") from None
    lock = (out / LOCK_NAME).resolve()
    if lock in _held:
        _held[lock] += 1
    else:
        _acquire(lock, out)
        _held[lock] = 1
        _remove_stale_temporaries(out)
    try:
        yield out
    finally:
        _held[lock] -= 1
        if not _held[lock]:
            del _held[lock]
            lock.unlink(missing_ok=True)


def _acquire(lock: Path, out: Path) -> None:
    """Create ``lock`` (``O_EXCL``) holding ``PID HOST``; take over one whose process on this host is gone."""
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(lock)
            if _is_stale(owner) and _take_over(lock, owner):
                continue
            pid = owner.split()[0] if owner else "unknown"
            raise RunDirError(f"another run (pid {pid}) is writing into {out}: wait for it, choose another --out, "
                              f"or delete {lock} if no run uses that folder") from None
        except OSError as err:
            raise RunDirError(f"cannot write into output folder {out}: {err.strerror or err}") from None
        try:
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        except OSError as err:
            lock.unlink(missing_ok=True)
            raise RunDirError(f"cannot write into output folder {out}: {err.strerror or err}") from None
        finally:
            os.close(fd)
        return


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _is_stale(owner: str) -> bool:
    """Whether the lock's writer (``PID HOST``) was a process on this host that no longer runs (killed)."""
    parts = owner.split()
    if len(parts) != 2 or not parts[0].isdigit() or parts[1] != socket.gethostname():
        return False  # another host's run, or an unreadable lock: not ours to judge
    try:
        os.kill(int(parts[0]), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it runs, as another user
        return False
    return False


def _take_over(lock: Path, owner: str) -> bool:
    """Remove a stale lock, unless another process took it over first (rename is atomic: one of them wins)."""
    moved = lock.with_name(f"{lock.name}.stale{os.getpid()}")
    try:
        os.replace(lock, moved)
    except FileNotFoundError:
        return True  # someone else removed it: try to create it again
    if _read(moved) != owner:  # a fresh lock, not the stale one: put it back
        os.replace(moved, lock)
        return False
    moved.unlink(missing_ok=True)
    return True


def _remove_stale_temporaries(out: Path) -> None:
    """Remove ``checkpoint.pt.tmp<PID>``/``metrics.json.tmp<PID>`` files: with the lock held, none is in use."""
    for name in _RUN_FILES:
        for tmp in out.glob(f"{name}.tmp*"):
            if tmp.name[len(name) + 4:].isdigit():
                tmp.unlink(missing_ok=True)
