"""DocumentStore on the local disk: JARVIS_HOME/documents/<user uuid>/<sha256>.

Every file operation goes through directory file descriptors with O_NOFOLLOW: a symlink planted as a user
folder or as an object is refused, never followed, and the names used are a canonical UUID and 64 hex
digits, so no argument can reach a path outside the user's own folder. Writes go to a temporary file in
the same folder, are fsynced, then renamed into place: a reader sees the whole object or none.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

_KEY = re.compile(r"[0-9a-f]{64}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeDocumentPath(ValueError):
    """A name that is not a UUID / sha256, or a symlink where a folder or object should be."""


def _names(user_id: str, key: str) -> tuple[str, str]:
    try:
        folder = str(uuid.UUID(user_id))
    except (ValueError, AttributeError, TypeError):
        raise UnsafeDocumentPath("user id must be a UUID") from None
    if folder != user_id or not isinstance(key, str) or not _KEY.fullmatch(key):
        raise UnsafeDocumentPath("key must be a sha256 hex digest and user id a canonical UUID")
    return folder, key


class LocalDocumentStore:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root = root

    @contextlib.contextmanager
    def _user_dir(self, folder: str, *, create: bool) -> Iterator[int | None]:
        root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o700, dir_fd=root_fd)
            try:
                fd = os.open(folder, _DIR_FLAGS, dir_fd=root_fd)
            except FileNotFoundError:
                if create:
                    raise
                yield None
                return
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeDocumentPath(f"user folder {folder} is not a plain directory") from None
                raise
            try:
                yield fd
            finally:
                os.close(fd)
        finally:
            os.close(root_fd)

    def put(self, user_id: str, key: str, data: bytes, mime_type: str) -> None:
        folder, key = _names(user_id, key)
        if hashlib.sha256(data).hexdigest() != key:
            raise ValueError("key is not the sha256 of the data")
        with self._user_dir(folder, create=True) as dir_fd:
            assert dir_fd is not None
            if self._regular(dir_fd, key):
                return  # content-addressed: the same name already holds these bytes
            tmp = f".tmp-{key[:16]}-{secrets.token_hex(8)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                         0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, key, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
                raise
            os.fsync(dir_fd)  # the rename itself survives a crash

    def get(self, user_id: str, key: str) -> bytes | None:
        folder, key = _names(user_id, key)
        with self._user_dir(folder, create=False) as dir_fd:
            if dir_fd is None:
                return None
            try:
                fd = os.open(key, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), dir_fd=dir_fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise UnsafeDocumentPath(f"object {key} is a symlink") from None
                raise
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                    raise UnsafeDocumentPath(f"object {key} is not a regular file")
                return fh.read()

    def delete(self, user_id: str, key: str) -> None:
        folder, key = _names(user_id, key)
        with self._user_dir(folder, create=False) as dir_fd:
            if dir_fd is None:
                return
            # unlink removes a symlink itself, never its target.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(key, dir_fd=dir_fd)

    def signed_url(self, user_id: str, key: str, filename: str, expires_in: int) -> str | None:
        _names(user_id, key)
        return None  # local files have no download links; the bytes are served as a blob resource

    @staticmethod
    def _regular(dir_fd: int, name: str) -> bool:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
            raise UnsafeDocumentPath(f"object {name} is not a regular file")
        return True
