"""Atomic file output: write to a temporary file in the target folder, then ``os.replace``.

Errors name the path the caller asked for, never the hidden temporary file. ``check_output_file`` /
``check_output_folder`` try an output path before any work, so a run does not fail at its end.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (a file there is a NotADirectoryError naming ``path``)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NotADirectoryError(f"{path}: cannot be written, {parent} is a file, not a folder")
    return parent


def _try_write_in(folder: Path, path: Path) -> None:
    """Create and remove a temporary file in ``folder``; an OSError naming ``path`` if that fails."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".ktn-write-check.", dir=folder)
    except OSError as e:
        raise PermissionError(f"{path}: cannot be written in {folder} ({e.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def check_output_file(path: str | Path) -> Path:
    """``path`` can receive a file: not a folder, and its nearest existing folder is writable. Creates nothing."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    _try_write_in(_existing_ancestor(path), path)
    return path


def check_output_folder(path: str | Path) -> Path:
    """``path`` is (or can become) a writable folder. Creates nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path}: is a file; give a folder")
    _try_write_in(path if path.is_dir() else _existing_ancestor(path), path)
    return path


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a temp file next to ``path`` and rename it into place; nothing is left on error."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise type(e)(f"{path}: cannot be written ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename == tmp or e.filename2 == str(path):
            raise type(e)(f"{path}: cannot be written ({e.strerror})") from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_png(path: str | Path, pixels) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG, atomically (creating its folder)."""
    from PIL import Image  # only the image writers need PIL

    return atomic_write(path, lambda f: Image.fromarray(pixels).save(f, format="PNG"))
