"""The local cache of zoo checkpoints (docs/pretrained.md, "Model zoo"): ``KTN_CACHE`` (default
``$XDG_CACHE_HOME/ktn``, else ``~/.cache/ktn``) / ``zoo`` / NAME / MODEL_ID / FILE, each file with a ``.sha256``
beside it, recorded after the first checked download and compared at every later use."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ktn_model.resources import resolve_config
from ktn_utils.atomic import atomic_write

from .catalog import PREFIX, ZooModel, find
from .download import DownloadError, download, expected_prefix, sha256_of

CACHE_ENV = "KTN_CACHE"
logger = logging.getLogger(__name__)


def cache_root() -> Path:
    """``KTN_CACHE``, else ``$XDG_CACHE_HOME/ktn``, else ``~/.cache/ktn``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ktn"


def cached_path(model: ZooModel) -> Path:
    """Where ``model``'s checkpoint lives in the cache (whether or not it is there)."""
    return cache_root() / "zoo" / model.name / str(model.model_id) / model.file


def _digest_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def checkpoint(name: str) -> Path:
    """The local file of zoo model ``name`` (``zoo:`` optional), downloaded and checked on first use.

    A cached file is used when its sha256 is the recorded one, or, put there by hand (no record yet), when it starts
    with the file name's hash suffix; otherwise it is corrupt and is downloaded again. ValueError for an unknown name,
    DownloadError when the file cannot be had, saying where to put it by hand.
    """
    model = find(name)
    path, record = cached_path(model), _digest_file(cached_path(model))
    if path.is_file():
        digest = sha256_of(path)
        recorded = record.read_text().strip() if record.is_file() else None
        if digest == recorded or (recorded is None and digest.startswith(expected_prefix(model.file))):
            if recorded is None:
                _record(record, digest)
            return path
        logger.warning("%s: corrupt (sha256 %s... is not %s); downloading it again", path, digest[:12],
                       f"the recorded {recorded[:12]}..." if recorded else f"{expected_prefix(model.file)}...")
        path.unlink()
    try:
        download(model.url, path)
    except DownloadError as e:
        raise DownloadError(f"{PREFIX}{model.name}: {e}; or put {model.file} there by hand: {path}") from None
    _record(record, sha256_of(path))
    return path


def _record(record: Path, digest: str) -> None:
    atomic_write(record, lambda f: f.write(f"{digest}\n".encode()))


def is_zoo(spec: str | Path) -> bool:
    return str(spec).startswith(PREFIX)


def resolve(spec: str | Path, config_file: str | Path | None = None) -> tuple[Path, str | Path | None]:
    """``--weights`` / ``--config-file`` with a ``zoo:NAME`` resolved: (the cached file, the given config or the
    model's preset); anything else unchanged."""
    if not is_zoo(spec):
        return Path(spec), config_file
    return checkpoint(str(spec)), config_file or resolve_config(find(str(spec)).preset)
