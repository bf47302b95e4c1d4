"""Private files: what edgekit writes holds faces (gallery, crops), events, queued messages and secrets, so the files
it creates are 0600 and the folders it creates for them 0700, whatever the umask (a umask can only take bits away:
the modes are set explicitly after creation). Files that already exist keep their mode; a secret someone else can
read is refused (`check_secret`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from edge.errors import EdgekitError

FILE_MODE, DIR_MODE = 0o600, 0o700


def private_dir(path: str | Path) -> Path:
    """Make `path` and any missing parents, each new one 0700; existing folders are left as they are."""
    path = Path(path).expanduser()
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made meanwhile by another process or thread
            continue
        os.chmod(d, DIR_MODE)
    return path


def private_file(path: str | Path) -> Path:
    """Create `path` empty and 0600 if it does not exist (its folder too, 0700), so that whatever opens it next
    (SQLite, which gives its -wal and -shm files the database's mode) inherits private permissions."""
    path = Path(path).expanduser()
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return path
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(path: str | Path, mode: str = "a", **kwargs):
    """open() for a file edgekit writes: created 0600 (folder 0700) if new; 'a', 'w', 'ab', 'wb'."""
    private_file(path)
    return open(path, mode, **kwargs)


def write_private(path: str | Path, data: bytes) -> Path:
    """Write a whole small file (a crop, a staged card) 0600, replacing what was there."""
    private_file(path)
    with open(path, "wb") as f:
        f.write(data)
    return Path(path)


def check_secret(path: str | Path, what: str) -> Path:
    """Refuse a key or password file that other users may read or change (as OpenSSH does with private keys)."""
    path = Path(path).expanduser()
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return path  # the caller's read reports a missing or unreadable file
    if mode & 0o077:
        raise EdgekitError(
            f"{what} {path}: readable by other users (mode {mode:04o}); a secret must be private", f"chmod 600 {path}"
        )
    return path
