"""Pickle loading that cannot run code: only numpy array reconstruction and builtin containers."""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path

import numpy as np


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The callables numpy array pickles reference, under every module path numpy 1.x/2.x writes."""
    reconstruct = np.ndarray((0,)).__reduce__()[0]
    frombuffer = np.arange(1.0).__reduce_ex__(5)[0]
    scalar = np.float64(0.0).__reduce__()[0]
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    allowed[("_codecs", "encode")] = codecs.encode  # protocol-2 pickles store bytes through it
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{module}.numeric", "_frombuffer")] = frombuffer
        allowed[(f"{module}.multiarray", "scalar")] = scalar
    return allowed


_ALLOWED = _numpy_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in ``_ALLOWED``; anything else (os.system, eval, ...) is refused."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused: the pickle references {module}.{name}; only numpy arrays and builtin types are allowed"
            ) from None


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's zip archives start so; a pickle never does


def safe_loads(data: bytes, source: str, error: type[Exception] = ValueError):
    """Unpickle ``data`` with the restricted unpickler; any failure is ``error`` naming ``source``."""
    if data.startswith(ZIP_MAGIC):  # reached only when the archive cannot be opened as one
        raise error(f"{source}: truncated, or not a checkpoint (a damaged zip archive)")
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise error(f"{source}: unreadable pickle: {e}") from None


def safe_load(path: str | Path, error: type[Exception] = ValueError):
    """Read and safely unpickle a file (``error`` naming it when missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file")
    return safe_loads(path.read_bytes(), str(path), error)
