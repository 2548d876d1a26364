"""Which session folders may have changed: a Linux inotify watcher, so that a long-running process
(the tray, `watch`, the status-bar daemon, metrics, the dashboard) stats only the rollout files of
folders something happened in, not every file on every refresh.

`FolderWatcher.changed()` answers one question: the folders that had an event since it was last
asked, or None for "do not know: look at everything" (the first call, after the kernel's event
queue overflowed, after a watch was removed because a folder was deleted or a file system
unmounted, once closed, and always on a platform without inotify). `watch(folder)` adds or
confirms a folder's watch *before* the caller lists it, and returns the watch's descriptor: the
same number on a later pass means the path still leads to that folder and it has been watched
without a break. None means it cannot be vouched for (missing, no inotify watch left, a network
file system) and is to be looked at every time.

What inotify cannot see, so no folder holding it may be trusted: writes by other machines to a
network file system (such folders are never vouched for here), and writes through a hard or
symbolic link that lives in another folder (codexbar/cost/discovery.py checks for those).

Inotify only reads: nothing is created in the folders watched. No thread: events wait in the
kernel until the next question drains them from the non-blocking descriptor.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import struct
import sys
import threading
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codexbar.store import Store

log = logging.getLogger(__name__)

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
MASK = (
    IN_MODIFY
    | IN_CLOSE_WRITE
    | IN_ATTRIB
    | IN_CREATE
    | IN_DELETE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
EVENT = struct.Struct("iIII")  # wd, mask, cookie, name length; the name follows
READ_BYTES = 64 << 10  # whole events only; one is at most 16 + 256 bytes

# statfs f_type of file systems other machines (or a host OS) write to: inotify sees only the
# writes made through this kernel. FUSE covers sshfs, rclone and virtiofs; 9p covers WSL's
# Windows drives and VM shares.
REMOTE_FILE_SYSTEMS = {
    0x6969: "NFS",
    0x517B: "SMB",
    0xFF534D42: "CIFS",
    0xFE534D42: "SMB",
    0x65735546: "FUSE",
    0x01021997: "9p",
    0x00C36400: "Ceph",
    0x5346414F: "AFS",
    0x6B414653: "AFS",
    0x73757245: "Coda",
    0x0BD00BD0: "Lustre",
    0x47504653: "GPFS",
    0x01161970: "GFS2",
    0x7461636F: "OCFS2",
}
STATFS_BYTES = 256  # more than any architecture's struct statfs


@dataclass
class Libc:
    """The C calls used, looked up once; tests swap one for a failing one (the ctypes boundary)."""

    inotify_init1: Any
    inotify_add_watch: Any
    inotify_rm_watch: Any
    get_errno: Any
    fs_type: Any  # statfs's f_type of a path (bytes), None when statfs fails


@functools.cache
def _libc() -> Libc | None:
    """libc's inotify calls, or None without them (not Linux, a libc that lacks them)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # here, not at the top: a one-shot run never loads it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init, add, rm, statfs = (
            libc.inotify_init1,
            libc.inotify_add_watch,
            libc.inotify_rm_watch,
            libc.statfs,
        )
    except (OSError, AttributeError):
        return None
    init.argtypes, init.restype = [ctypes.c_int], ctypes.c_int
    add.argtypes, add.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32], ctypes.c_int
    rm.argtypes, rm.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    statfs.argtypes, statfs.restype = [ctypes.c_char_p, ctypes.c_void_p], ctypes.c_int
    # f_type comes first in struct statfs, as glibc's __fsword_t: a long except on s390x.
    fsword = ctypes.c_uint if os.uname().machine == "s390x" else ctypes.c_long

    def fs_type(path: bytes) -> int | None:
        buffer = ctypes.create_string_buffer(STATFS_BYTES)
        if statfs(path, buffer) != 0:
            return None
        return fsword.from_buffer(buffer).value & 0xFFFFFFFF

    return Libc(init, add, rm, ctypes.get_errno, fs_type)


_serials = count(1)


class FolderWatcher:
    """Inotify watches on session folders. Safe to share between threads."""

    def __init__(self) -> None:
        self.serial = next(_serials)  # tells apart what was remembered under another watcher
        self._lock = threading.Lock()
        # Held by a discovery pass from its question to its last stat, so that two threads'
        # passes never remember stats that the other's question already found changed.
        self.pass_lock = threading.Lock()
        self._libc = _libc()
        self._fd: int | None = None
        self._wd_of: dict[str, int] = {}  # folder path -> its watch
        self._paths: dict[int, set[str]] = {}  # watch -> the paths leading to it (symlinks)
        self._remote: set[int] = set()  # watches on network file systems: never vouched for
        self._changed: set[str] | None = None  # since the last question; None: unknown
        self._told_full = False
        if self._libc is None:
            return
        fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            log.debug(
                "inotify cannot be used (%s); every session file is checked on each refresh",
                os.strerror(self._libc.get_errno()),
            )
            return
        self._fd = fd

    def changed(self) -> set[str] | None:
        """The folders with an event since the last call (watched folders only), or None: do
        not know, look at everything. Never blocks."""
        with self._lock:
            if self._fd is None:
                return None
            self._drain()
            answer, self._changed = self._changed, set()
            return answer

    def watch(self, folder: str) -> int | None:
        """Watch `folder` (or confirm its watch) before it is listed: its descriptor, the same
        number as long as the path leads to the same folder watched without a break; None when
        it cannot be vouched for."""
        with self._lock:
            if self._fd is None:
                return None
            libc = self._libc
            wd = libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
            known = self._wd_of.get(folder)
            if wd < 0:
                self._failed(folder, libc.get_errno())
                if known is not None:
                    self._forget(folder, known)
                return None
            if known != wd:
                if known is not None:
                    self._forget(folder, known)  # the path now leads to another folder
                if wd not in self._paths:
                    self._paths[wd] = set()
                    if self._is_remote(folder):
                        self._remote.add(wd)
                self._paths[wd].add(folder)
                self._wd_of[folder] = wd
            return None if wd in self._remote else wd

    def close(self) -> None:
        with self._lock:
            if self._fd is None:
                return
            os.close(self._fd)  # removes every watch
            self._fd = None
            self._wd_of.clear()
            self._paths.clear()
            self._remote.clear()

    def __del__(self) -> None:  # a Store nobody closed: do not keep an inotify instance
        if getattr(self, "_fd", None) is not None:
            self.close()

    # -- inside the lock ------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                return  # nothing more pending
            except OSError as error:
                log.debug("inotify events could not be read: %s", error)
                self._changed = None
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, size = EVENT.unpack_from(data, offset)
                offset += EVENT.size + size
                if mask & IN_Q_OVERFLOW:
                    self._changed = None  # events were lost
                    continue
                paths = self._paths.get(wd)
                if paths is None:
                    continue  # a watch this object removed
                if mask & IN_IGNORED:  # the folder was deleted or its file system unmounted
                    for path in paths:
                        self._wd_of.pop(path, None)
                    del self._paths[wd]
                    self._remote.discard(wd)
                    self._changed = None
                elif self._changed is not None:
                    self._changed.update(paths)

    def _forget(self, folder: str, wd: int) -> None:
        del self._wd_of[folder]
        paths = self._paths.get(wd)
        if paths is None:
            return
        paths.discard(folder)
        if not paths:  # no path leads to that folder any more
            del self._paths[wd]
            self._remote.discard(wd)
            self._libc.inotify_rm_watch(self._fd, wd)

    def _failed(self, folder: str, code: int) -> None:
        if code == errno.ENOSPC and not self._told_full:
            self._told_full = True
            log.debug(
                "no inotify watch left (fs.inotify.max_user_watches reached): %s and other "
                "folders that cannot be watched are checked file by file on each refresh",
                folder,
            )
        # ENOENT, ENOTDIR, EACCES: nothing there to watch, or not readable; listing says why.

    def _is_remote(self, folder: str) -> bool:
        fs_type = self._libc.fs_type(os.fsencode(folder))
        if fs_type is None:
            return True  # cannot tell: do not vouch for it
        kind = REMOTE_FILE_SYSTEMS.get(fs_type)
        if kind is not None:
            log.debug(
                "%s is on a network file system (%s), where inotify misses other machines' "
                "writes: its files are checked on each refresh",
                folder,
                kind,
            )
        return kind is not None


def store_watcher(store: Store) -> FolderWatcher | None:
    """The watcher kept on `store` for its cost refreshes, made on the second one: a one-shot
    run never pays for it, and a long-running one has it in place before that refresh's full
    stat pass, so it sees every later change. `Store.close()` closes it."""
    store._cost_refreshes += 1
    if store._cost_refreshes < 2:
        return None
    if store._cost_watcher is None:
        store._cost_watcher = FolderWatcher()
    return store._cost_watcher
