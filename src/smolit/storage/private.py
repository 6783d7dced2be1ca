"""Private files: everything under the data directory is 0700 (directories) / 0600 (files).

The data directory holds the database, indexes, uploads, backups and model files; none of
it is for other users of the machine. ``private_dir`` creates directories 0700 (each level
it creates, whatever the umask), ``private_home`` also tightens an existing data directory
that group or others can enter, ``private_file`` creates (or tightens) a file 0600 before
another library (SQLite) opens it, and ``write_private`` writes bytes atomically 0600.
No process-wide umask is changed: a program embedding the system keeps its own.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
#: permission bits that let group or others in
OPEN_BITS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents 0700; an existing directory is kept as is."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        directory.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    return path


def private_home(home: Path) -> Path:
    """Create the data directory 0700, or make an existing one 0700 (logged)."""
    if not home.exists():
        return private_dir(home)
    mode = stat.S_IMODE(home.stat().st_mode)
    if os.name == "posix" and mode & OPEN_BITS:
        home.chmod(DIR_MODE)
        logger.info("data directory %s was mode %o; it is now 700", home, mode)
    return home


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and is 0600 (created empty when missing).

    An existing file is changed by its path, never opened: closing a descriptor of a
    SQLite database would drop the locks this process's connections hold on it.
    """
    private_dir(path.parent)
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY, FILE_MODE)
    except FileExistsError:
        pass
    else:  # nobody can hold a lock on a file made just now
        os.close(descriptor)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & OPEN_BITS:
        try:
            path.chmod(mode & ~OPEN_BITS)
        except PermissionError:  # another user's file: theirs to protect
            logger.warning("%s is mode %o and not ours to change", path, mode)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a 0600 temporary file beside it, flushed to
    disk, renamed over (a reader sees the old file or the new one, never half)."""
    private_dir(path.parent)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def make_tree_private(root: Path) -> None:
    """Directories 0700 and files 0600 below (and including) ``root``; links untouched."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, DIR_MODE)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, FILE_MODE)
