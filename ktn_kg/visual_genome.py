"""Visual Genome relationship counting F (docs/knowledge_graph.md, "Counting F"), memory flat in the file size.

A plain ``.json`` is cut into element-aligned byte ranges decoded by msgspec, optionally in parallel
(:mod:`ktn_kg.vg_ranges`); ``.json.gz``, ``.zip`` and any file that path cannot decode are streamed
in one pass with ijson's C backend (yajl2_c), one image entry at a time, which also reports bad JSON
with its byte offset. Only the (subject word, object word) pairs that can fire a rule are tallied;
the three rules are then applied once per distinct pair, for every task.
"""

from __future__ import annotations

import gzip
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import ijson
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .errors import KGError
from .vg_ranges import BLOCK, add_pooled, count_ranges, gc_paused, plan_ranges
from .vocabulary import TaskVocab

PairCounts = Counter  # Counter[(subject word | None, object word | None)] -> relationships
_BUF = 1 << 16  # 64 KiB reads parse fastest (cache-friendly)
_YAJL_PAD = 10  # yajl indents its error context by at least this many spaces
_GZIP_MAGIC, _ZIP_MAGIC = b"\x1f\x8b", b"PK\x03\x04"


def _ijson_c():
    """ijson's yajl2_c backend; refuse to run on the slow pure-Python fallback."""
    try:
        return ijson.get_backend("yajl2_c")
    except ImportError:
        raise KGError("ijson's C backend (yajl2_c) is not available; reinstall ijson from a wheel") from None


def relevant_words(vocabs: Iterable[TaskVocab], surface_base: Iterable[str]) -> frozenset[str]:
    """Every word that can take part in a rule of any task: A, Bs and both synonym maps' keys."""
    words = set(surface_base)
    for tv in vocabs:
        words |= set(tv.base_labels) | set(tv.syn_2d) | set(tv.syn_surface)
    return frozenset(words)


def count_pairs(
    path: str | Path, relevant: frozenset[str], progress: bool = False, workers: int = 1, block: int = BLOCK
) -> tuple[PairCounts, dict]:
    """Count ``relationships.json`` (plain, .gz or .zip) → (pair counts, {"images", "relationships"}).

    Words outside ``relevant`` are replaced by None, which keeps the counter small and leaves every
    rule's outcome unchanged (None matches no vocabulary). A plain file is decoded in byte ranges of
    about ``block`` bytes, in ``workers`` spawned processes when above 1 (the caller's main module
    then needs an ``if __name__ == "__main__":`` guard); the counts are identical either way.
    """
    path = Path(path)
    if not path.is_file():
        raise KGError(f"{path}: no such Visual Genome file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic.startswith(_GZIP_MAGIC) and magic != _ZIP_MAGIC:
        counted = _count_plain(path, relevant, progress, workers, block)
        if counted is not None:
            return counted
    return _count_stream(path, relevant, progress)


def _count_plain(path: Path, relevant: frozenset[str], progress: bool, workers: int, block: int):
    """The parallel byte-range path; None when the file must be streamed instead."""
    size = path.stat().st_size
    ranges = plan_ranges(path, size, block)
    if ranges is None:
        return None
    with _progress(progress, size, path.name) as tick:
        return count_ranges(path, ranges, relevant, workers, tick)


def _count_stream(path: Path, relevant: frozenset[str], progress: bool) -> tuple[PairCounts, dict]:
    """One streaming ijson pass; bad input raises a one-line KGError with the byte offset."""
    pairs: PairCounts = Counter()
    stats = {"images": 0, "relationships": 0}
    with _open_stream(path, progress) as reader, gc_paused():
        try:
            for image in _ijson_c().items(reader, "item", use_float=True, buf_size=_BUF):
                stats["images"] += 1
                stats["relationships"] += _count_image(image, relevant, pairs)
        except (KeyError, TypeError, IndexError, AttributeError) as e:
            raise KGError(f"{path}: wrong JSON shape near byte {reader.offset}: {_describe(e)}") from None
        except ijson.JSONError as e:
            at = reader.error_offset(str(e))
            raise KGError(f"{path}: malformed or truncated JSON at byte {at} (0-based): {_first_line(e)}") from None
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as e:
            raise KGError(f"{path}: cannot decompress at byte {reader.offset}: {e}") from None
    return pairs, stats


def _count_image(image: dict, relevant: frozenset[str], pairs: PairCounts) -> int:
    """Tally one image entry's relationships; returns how many it has."""
    rels = image["relationships"]
    if not isinstance(rels, list):
        raise TypeError("'relationships' is not a list")
    for rel in rels:
        add_pooled(pairs, _word(rel["subject"]), _word(rel["object"]), 1, relevant)
    return len(rels)


def _word(entity: dict) -> str | None:
    """Entity word: ``name`` (VG v1.2), else ``names[0]`` (v1.4), else None; verbatim (no lower-casing)."""
    if not isinstance(entity, dict):
        raise TypeError("subject/object is not an object")
    if "name" in entity:
        return entity["name"]
    if "names" in entity:
        return entity["names"][0]
    return None


def _describe(e: Exception) -> str:
    return f"missing key {e}" if isinstance(e, KeyError) else str(e)


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def rule_counts(pairs: PairCounts, tv: TaskVocab, surface_base: Iterable[str]) -> Counter:
    """Apply Rules 1-3 (docs/knowledge_graph.md) to every distinct pair → Counter[(2D base label, surface label)].

    W = {subject word, object word}; the first rule that fires consumes the relationship and every
    (a, b) pair it produces adds the relationship's count.
    """
    a_set, b_set = set(tv.base_labels), set(surface_base)
    out: Counter = Counter()
    for (s, o), n in pairs.items():
        for cell in _fire(frozenset((s, o)), a_set, b_set, tv.syn_2d, tv.syn_surface):
            out[cell] += n
    return out


def _fire(w: frozenset, a_set: set, b_set: set, syn_2d: dict, syn_s: dict) -> list[tuple[str, str]]:
    wa, wb = w & a_set, w & b_set
    if wa and wb:
        return [(a, b) for a in wa for b in wb]
    w2 = w & syn_2d.keys()
    if w2 and wb:
        return [(syn_2d[x], b) for x in w2 for b in wb]
    ws = w & syn_s.keys()
    if wa and ws:
        return [(a, syn_s[x]) for a in wa for x in ws]
    return []


class _TrackedReader:
    """``read()`` wrapper: counts bytes handed to the parser, checks the top level is a list, ticks progress."""

    def __init__(self, stream, name: str, tick: Callable[[int], None]) -> None:
        self.stream, self.name, self.tick = stream, name, tick
        self.offset = 0
        self.chunk, self.chunk_start = b"", 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        if data:
            if self.offset == 0 and not data.lstrip().startswith(b"["):
                raise KGError(f"{self.name}: wrong JSON shape at byte 0: expected a list of image entries")
            self.chunk, self.chunk_start = data, self.offset
        self.offset += len(data)
        self.tick(self.offset)
        return data

    def error_offset(self, message: str) -> int:
        """Byte offset of a yajl parse error, found by locating yajl's context snippet (the line above
        its "(right here) ------^" caret) in the chunk being parsed; the bytes read so far otherwise
        (which is exact for a truncated file)."""
        lines = message.split("\n")
        if len(lines) < 3 or "^" not in lines[2]:
            return self.offset
        caret = lines[2].index("^")
        start = min(max(len(lines[1]) - len(lines[1].lstrip(" ")), _YAJL_PAD), caret)
        snippet = lines[1][start:].encode()
        found = self.chunk.replace(b"\n", b" ").replace(b"\r", b" ").find(snippet) if snippet.strip() else -1
        # yajl's caret stands just after the offending byte
        return self.offset if found < 0 else self.chunk_start + max(found + caret - start - 1, 0)


@contextmanager
def _open_stream(path: Path, progress: bool) -> Iterator[_TrackedReader]:
    """Open plain / gzip / zip input by magic bytes; progress advances over the bytes of the file read."""
    with open(path, "rb") as f:
        magic = f.read(4)
    with ExitStack() as stack:
        raw = stack.enter_context(open(path, "rb"))
        total = path.stat().st_size
        position = raw.tell
        if magic.startswith(_GZIP_MAGIC):
            stream = stack.enter_context(gzip.GzipFile(fileobj=raw))
        elif magic == _ZIP_MAGIC:
            stream, total = _zip_member(stack, path, raw)
            position = None
        else:
            stream = raw
        bar = stack.enter_context(_progress(progress, total, path.name))
        reader = _TrackedReader(stream, str(path), lambda done: bar(position() if position else done))
        yield reader


def _zip_member(stack: ExitStack, path: Path, raw) -> tuple[object, int]:
    """The JSON member of a Visual Genome .zip download (relationships.json, or the only .json)."""
    try:
        zf = stack.enter_context(zipfile.ZipFile(raw))
    except zipfile.BadZipFile as e:
        raise KGError(f"{path}: bad zip file: {e}") from None
    members = [i for i in zf.infolist() if i.filename.endswith(".json")]
    if len(members) != 1:
        members = [i for i in members if Path(i.filename).name == "relationships.json"]
    if len(members) != 1:
        raise KGError(f"{path}: the zip must hold exactly one relationships.json")
    return stack.enter_context(zf.open(members[0])), members[0].file_size


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A transient rich progress bar over bytes on stderr (terminals only); yields ``update(completed_bytes)``."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    live = enabled and console.is_terminal  # never mix a bar into redirected output or a one-line error
    with Progress(*columns, TimeRemainingColumn(), console=console, disable=not live, transient=True) as bar:
        task = bar.add_task(f"counting {label}", total=total)
        yield lambda done: bar.update(task, completed=done)
