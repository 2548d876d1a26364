"""Reading files we do not control (Codex's, the user's) without hanging or exhausting memory.

A FIFO or a character device in place of `auth.json` or a session log would block `open()` for
ever, and `/dev/zero` behind a symlink would fill memory: only regular files are read, opened
non-blocking, and never more than a stated number of bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class UnreadableFile(Exception):
    """A file that cannot be read as asked; `str()` says why in words, naming the file."""


class MissingFile(UnreadableFile):
    """The file (or a folder on its path) does not exist: often normal, e.g. logged out."""


def describe(error: OSError) -> str:
    """What went wrong with a path, as words that follow its name ("… cannot be read")."""
    if error.errno == errno.ENOENT:
        return "does not exist"
    if error.errno == errno.ENOTDIR:
        return "has a file where a folder should be on its path"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    if error.errno == errno.EISDIR:
        return "is a folder, not a file"
    if error.errno == errno.ELOOP:
        return "is a symbolic link loop"
    if error.errno == errno.EROFS:
        return "is on a read-only file system"
    if error.errno == errno.ENOSPC:
        return "cannot be written (the disk is full)"
    return "could not be read"


def open_regular(path: Path) -> int:
    """A non-blocking read-only descriptor for a regular file, or UnreadableFile."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        missing = error.errno in (errno.ENOENT, errno.ENOTDIR)
        raise (MissingFile if missing else UnreadableFile)(f"{path} {describe(error)}") from None
    try:
        mode = os.fstat(fd).st_mode
    except OSError as error:
        os.close(fd)
        raise UnreadableFile(f"{path} {describe(error)}") from None
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file (a pipe or a device)"
        raise UnreadableFile(f"{path} is {kind}")
    return fd


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The whole of a regular file of at most `max_bytes`, else UnreadableFile."""
    fd = open_regular(path)
    try:
        with os.fdopen(fd, "rb", closefd=True) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise UnreadableFile(f"{path} {describe(error)}") from None
    if len(data) > max_bytes:
        raise UnreadableFile(f"{path} is larger than {max_bytes // 1024} KB, which it never is")
    return data


def read_text(path: Path, max_bytes: int) -> str:
    """`read_bytes` decoded as UTF-8; undecodable bytes are an UnreadableFile in words."""
    data = read_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path} is not UTF-8 text") from None
