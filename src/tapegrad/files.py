"""Writing text files atomically, one or several at once, all or none.

    write_all([("model.json", text)])                      # one file
    write_all([("f.svg", drawing), ("f.html", page)])      # both, or neither

What a write guarantees, for each file:

- A reader sees the old file or the new one, never half of one: the text goes to a temporary
  file beside the target (in the same folder, so on the same disk), is flushed to disk
  (``fsync``), and is renamed over the target in one step (``os.replace``); then the folder is
  synced too, so the rename itself survives a power cut. With several files, every one is
  complete before the first is renamed, and a failure anywhere removes every temporary file:
  the targets stay as they were.
- The temporary file is never readable by more people than the result: it is created with the
  final permission bits (those of the file it replaces, or 0666 less the umask for a new file,
  as ``open()`` would give; ``tempfile.mkstemp`` would make it 0600) and O_EXCL, so an existing
  file or symlink is never opened. The owner and group of a replaced file are kept where the
  system allows it (root writing a user's file; a user keeping the file's group).
- A symlink is written through: the file it names is replaced (a dangling one's is created),
  and the link is kept.
- A stream (a character device such as /dev/stdout or /dev/null, a named pipe) is not
  replaced but written directly, after every regular file is in place.
- A write killed halfway (kill -9, a power cut) leaves its temporary file behind, named
  ``.<name>.tapegrad-<host>-<pid>-<16 hex digits>.tmp``; the next write of the same file
  removes it once its writer is provably gone (that process no longer runs on this machine,
  or the file is an hour old), and never one that a live writer may still be writing.

Standard library only: this module knows nothing of the rest of tapegrad.
"""

import hashlib as _hashlib
import os as _os
import re as _re
import secrets as _secrets
import stat as _stat
import time as _time
from typing import Sequence as _Sequence

# A leftover temporary file whose writer cannot be checked (another machine sharing the
# folder, or a pid that may have been reused) is removed once it is this old. A write finishes
# its file within seconds; one untouched for an hour is not being written.
_STALE_AFTER_SECONDS = 3600.0
_IMPORTED_AT = _time.time()  # no temporary of this process is older than this module


class WriteError(OSError):
    """An OSError while writing the files: ``index`` says which of them (its position in the
    list given to write_all); errno and strerror are those of ``error``, the OSError itself.
    Nothing was written: every target is as it was (but for streams, see write_all)."""

    def __init__(self, index: int, error: OSError):
        super().__init__(error.errno, error.strerror or str(error))
        self.index, self.error = index, error


def is_stream(st: "_os.stat_result | None") -> bool:
    """Whether ``st`` (an os.stat result, or None for a file that does not exist) is a
    character device or a named pipe: a target that is written as it is, never replaced."""
    return st is not None and (_stat.S_ISCHR(st.st_mode) or _stat.S_ISFIFO(st.st_mode))


def write_all(files: "_Sequence[tuple[str | _os.PathLike[str], str]]") -> None:
    """Write each ``(path, text)`` of ``files`` as UTF-8, all or none, each atomically (see the
    module's docstring): every regular file is staged as a complete temporary file, then all
    replace their targets, then the streams are written.

    The paths should name distinct files, each a regular file, a stream or nothing yet, in a
    folder that exists (checking that, with the caller's words, is the caller's part). Any
    OSError is raised as WriteError naming the file's index, after every temporary file is
    removed; so is whatever else interrupts the write (a KeyboardInterrupt), as it is. A stream
    that fails leaves the regular files written before it in place.
    """
    plan, pending, index = [], [], 0
    try:
        for index, (path, text) in enumerate(files):
            path = _os.fspath(path)
            existing = _stat_or_none(path)
            plan.append((index, path, text, existing))
        moves = []
        for index, path, text, existing in plan:
            if not is_stream(existing):
                real = _os.path.realpath(path)
                _remove_leftovers(real)
                moves.append((index, _staged(real, existing, text, pending), real))
        for index, temp, real in moves:
            _os.replace(temp, real)
            pending.remove(temp)
        for folder in dict.fromkeys(_os.path.dirname(real) for _, _, real in moves):
            _sync_folder(folder)
        for index, path, text, existing in plan:
            if is_stream(existing):
                with open(path, "w", encoding="utf-8") as out:
                    out.write(text)
    except OSError as error:
        raise WriteError(index, error) from None
    finally:
        for temp in pending:
            try:
                _os.unlink(temp)
            except OSError:
                pass


def _stat_or_none(path: str) -> "_os.stat_result | None":
    """The stat of the file ``path`` names, symlinks followed; None if there is none yet."""
    try:
        return _os.stat(path)
    except FileNotFoundError:
        return None


def _staged(real: str, existing: "_os.stat_result | None", text: str, pending: list) -> str:
    """A complete temporary copy of the new ``real`` beside it, synced to disk, with the mode
    (and where allowed the owner) of ``existing``, the file it replaces; its path, which is
    added to ``pending`` as soon as it exists."""
    folder, name = _os.path.split(real)
    # Made with the existing file's bits (which the umask can only narrow; set exactly below),
    # or with 0666 less the umask for a new file, exactly what open() gives.
    fd, temp = _new_temporary(folder, name, _stat.S_IMODE(existing.st_mode) if existing else 0o666)
    pending.append(temp)
    file = None
    try:
        if existing is not None:
            _copy_owner_and_mode(fd, temp, existing)
        file = _os.fdopen(fd, "w", encoding="utf-8")
    finally:
        if file is None:
            _os.close(fd)
    with file:
        file.write(text)
        file.flush()
        _os.fsync(file.fileno())
    return temp


def _copy_owner_and_mode(fd: int, temp: str, existing: _os.stat_result) -> None:
    """Give the temporary file the owner, group and permission bits of the file it replaces.
    The owner is kept where the system allows it; the mode always. chown first: it can clear
    set-id bits."""
    if hasattr(_os, "fchown"):
        for owner in (existing.st_uid, -1):  # owner and group; failing that, the group alone
            try:
                _os.fchown(fd, owner, existing.st_gid)
                break
            except OSError:
                continue  # not allowed: the file becomes the writer's, as a new file would
    mode = _stat.S_IMODE(existing.st_mode)
    if hasattr(_os, "fchmod"):
        _os.fchmod(fd, mode)
    else:
        _os.chmod(temp, mode)


def _new_temporary(folder: str, name: str, mode: int) -> "tuple[int, str]":
    """A new temporary file for ``name`` in ``folder``, opened for writing: (fd, its path).

    Made by os.open with ``mode`` (the umask applies, as for any new file) and O_EXCL, so an
    existing file or symlink is never opened.
    """
    while True:
        temp = _os.path.join(folder, _temporary_name(name))
        try:
            return _os.open(temp, _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL, mode), temp
        except FileExistsError:  # a name already taken: draw another
            continue


def _sync_folder(folder: str) -> None:
    """fsync the folder, so the rename itself survives a power cut. Where a folder cannot be
    opened (Windows) or synced (some file systems), the rename is done and that is all."""
    if not hasattr(_os, "O_DIRECTORY"):
        return
    try:
        fd = _os.open(folder, _os.O_RDONLY | _os.O_DIRECTORY)
    except OSError:
        return
    try:
        _os.fsync(fd)
    except OSError:
        pass
    finally:
        _os.close(fd)


# ---------------------------------------------------------------------------------------------
# Leftovers of killed writes
# ---------------------------------------------------------------------------------------------


def _host() -> str:
    """This machine's name as it appears in a temporary file's name: letters and digits only
    (a folder shared over the network is written by several machines, and a pid says nothing
    about another machine's processes)."""
    node = _os.uname().nodename if hasattr(_os, "uname") else _os.environ.get("COMPUTERNAME", "")
    return _re.sub(r"[^A-Za-z0-9]", "", node)[:32] or "host"


def _stem(name: str) -> str:
    """The target's file name as it starts its temporaries' names; a very long one is cut and
    completed by a hash, so the temporary name stays within the 255 bytes a name may have."""
    if len(name) <= 120:
        return name
    digest = _hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{name[:80]}~{digest[:16]}"


def _temporary_name(name: str) -> str:
    """``.<name>.tapegrad-<host>-<pid>-<16 hex digits>.tmp``: hidden, unique, and saying which
    file, machine and process it belongs to."""
    return f".{_stem(name)}.tapegrad-{_host()}-{_os.getpid()}-{_secrets.token_hex(8)}.tmp"


def _temporary_pattern(name: str) -> "_re.Pattern[str]":
    """What the temporaries of writes to ``name`` look like, with the host and pid captured."""
    return _re.compile(
        _re.escape(f".{_stem(name)}.tapegrad-")
        + r"(?P<host>[A-Za-z0-9]{1,32})-(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{16}\.tmp"
    )


def _remove_leftovers(real: str) -> "list[str]":
    """Remove the temporary files that interrupted writes of the file ``real`` (symlinks
    resolved) left beside it; return their paths. write_all calls it before each file.

    Only files named like this module's temporaries of that very file are candidates, and of
    those only regular files whose writer is provably gone: its process, on this machine, no
    longer runs (or is a zombie, or started after the file was last written: its pid was
    reused), or the file has not been touched for an hour. A write running meanwhile in another
    process or thread keeps its temporary file.
    """
    folder, name = _os.path.split(real)
    pattern = _temporary_pattern(name)
    removed = []
    try:
        entries = list(_os.scandir(folder))
    except OSError:
        return removed  # a folder that cannot be listed has nothing we could remove
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found and _is_abandoned(entry, found["host"], int(found["pid"])):
            try:
                _os.unlink(entry.path)
            except OSError:
                continue  # another write removed it first, or it is not ours to remove
            removed.append(entry.path)
    return removed


def _is_abandoned(entry: _os.DirEntry, host: str, pid: int) -> bool:
    """Whether the temporary file ``entry``, written by process ``pid`` on ``host``, is
    provably no longer being written."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    if not _stat.S_ISREG(st.st_mode):
        return False  # writes make regular files only: a folder or symlink so named is not ours
    if _time.time() - st.st_mtime > _STALE_AFTER_SECONDS:
        return True
    if host != _host():
        return False  # another machine's process: its pid means nothing here
    return not _may_be_writing(pid, st.st_mtime)


def _may_be_writing(pid: int, written_at: float) -> bool:
    """Whether process ``pid`` of this machine may still be writing a file it last wrote at
    ``written_at``. False only when that is certain; True whenever it cannot be told."""
    if pid == _os.getpid():
        # A thread of this process may be writing it, unless it is older than this module:
        # then a process before us had our pid (a container's pid 1, restarted).
        return written_at >= _IMPORTED_AT - 2.0
    if _os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        _os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # PermissionError: it exists, another user's
    return not _linux_says_gone(pid, written_at)


def _linux_says_gone(pid: int, written_at: float) -> bool:
    """Whether /proc shows that process ``pid``, which exists, is not the writer of a file last
    written at ``written_at``: it has ended and waits to be reaped (a zombie), or it started
    after that (its pid was reused). False where /proc cannot tell (not Linux)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()  # after the command name in (...)
        with open("/proc/stat", "rb") as f:
            booted = next(int(line.split()[1]) for line in f if line.startswith(b"btime "))
        state, ticks = fields[0], int(fields[19])  # the stat fields 3 and 22: man 5 proc
        started = booted + ticks / _os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    return state in (b"Z", b"X") or started > written_at + 2.0  # 2 s: the clocks' resolution


__all__ = ["write_all", "WriteError", "is_stream"]
