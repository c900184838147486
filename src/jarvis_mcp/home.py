"""JARVIS_HOME is private to the account that runs the server: folders 0700, files 0600.

It holds the memories, contacts, audit, documents, outbox and keys, so any other account on the machine
must not read it. The server process runs with umask 077 (everything it creates is owner-only), the
places that create the home and the database say so explicitly (an in-process server keeps its host's
umask), and an install made before this rule (0755 / 0644) is tightened once at start.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


def make_home(home: Path) -> None:
    """The home, created owner-only when missing (its own parents keep the usual modes)."""
    home.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)


def create_private_file(path: Path) -> None:
    """An empty file created 0600 if missing, before a library (SQLite) opens it with its own default.
    An existing one is left as it is (it may be read-only to us; the start-up walk tightened it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def tighten(home: Path) -> tuple[int, int]:
    """Take group and other permissions off every folder and file under home (itself included):
    (how many were tightened, how many could not be). Symlinks are neither followed nor changed: one may
    point outside the home."""
    changed = failed = 0
    for root, _dirs, files in os.walk(home):
        for path in (root, *(os.path.join(root, name) for name in files)):
            try:
                st = os.lstat(path)
                if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)) or not st.st_mode & 0o077:
                    continue
                os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
                changed += 1
            except FileNotFoundError:  # removed meanwhile (a temporary file)
                continue
            except OSError:
                failed += 1
    return changed, failed


def secure_home(home: Path, *, create: bool) -> None:
    """At start: the home made (when this server keeps data in it) and tightened, with one log line when
    anything was readable by others."""
    if create:
        make_home(home)
    if not home.is_dir():
        return
    changed, failed = tighten(home)
    if changed:
        log.warning("%s: %d files and folders were readable by other accounts; made owner-only (0700/0600)",
                    home, changed)
    if failed:
        log.warning("%s: %d files or folders readable by other accounts could not be changed (not ours?); "
                    "chmod them to 0600 / 0700", home, failed)
