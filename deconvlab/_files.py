"""Writing files whole or not at all, and locking a folder a run writes: the one place deconvlab writes a file a
user keeps."""
import contextlib
import os
import secrets


def temporary_name(name):
    """The name of ``atomic_write``'s temporary file for ``name``: ``.NAME.<random>.tmp``, the name cut to 200
    bytes so that the whole stays within the 255 bytes a file name may have."""
    short = os.fsencode(name)[:200].decode(errors="ignore")
    return f".{short}.{secrets.token_hex(6)}.tmp"


def atomic_write(path, write, make_folder=False):
    """Write ``path`` whole or not at all.

    ``write(file)`` fills a new temporary file ``.NAME.<random>.tmp`` in the same folder (opened in binary
    mode), which is flushed, synced to disk and then renamed over ``path`` with ``os.replace`` — atomic on
    one file system, so a reader (or a run killed half-way) sees the old file or the new one, never a part.
    On any error, the temporary file is removed and the error propagates. The folder must exist unless
    ``make_folder`` is true.
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    if make_folder:
        os.makedirs(folder, exist_ok=True)
    elif not os.path.isdir(folder):
        raise FileNotFoundError(f"folder {folder!r} does not exist (writing {name!r})")
    temporary = os.path.join(folder, temporary_name(name))
    try:
        with open(temporary, "xb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, os.path.join(folder, name))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


class FolderInUse(RuntimeError):
    """Another process holds the lock of a folder (see ``folder_lock``)."""


@contextlib.contextmanager
def folder_lock(folder):
    """Hold an exclusive lock on ``folder`` (the file ``.lock`` in it, created if needed) for the ``with`` block;
    FolderInUse at once if another process (or another ``folder_lock`` of this one) holds it. The lock is an
    ``flock`` on an open file, so it goes with the process: a killed run leaves no stale lock. Where ``fcntl``
    does not exist (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUse(folder) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
