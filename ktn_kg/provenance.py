"""Provenance records: input files (name, size, sha256) and the package version."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_record(path: str | Path) -> dict:
    """{"name", "size", "sha256"} of an input file; the name only, so the record does not depend on the cwd."""
    path = Path(path)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"name": path.name, "size": path.stat().st_size, "sha256": digest}
