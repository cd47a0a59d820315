"""Fast path for a plain ``relationships.json``: element-aligned byte ranges, decoded by msgspec.

The top-level array is cut into ranges of about ``block`` bytes, each ending just before the ``,`` that
opens an image entry (found by the bytes every entry starts with, e.g. ``{"image_id"``). Each range is
read on its own (memory stays flat in the file size), decoded as ``[range]`` by msgspec into small typed
structs and reduced to a :data:`PairCounts` at once; ranges run in worker processes when more than one
core is free. A wrong cut cannot decode (its brackets do not balance), so *any* failure here, a bad
cut or bad JSON, returns None and the caller falls back to the streaming ijson pass, which then
reports the exact file and byte offset of the problem. Valid files give the same counts either way.
"""

from __future__ import annotations

import gc
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from itertools import chain
from multiprocessing import get_context
from operator import attrgetter

import msgspec
from msgspec import UNSET, UnsetType

BLOCK = 8 << 20  # bytes per range: large enough to amortise a decode call, small enough for flat memory
_WINDOW = 1 << 16  # bytes read around a planned cut to find the next entry start
_WS = b" \t\n\r"
_ENTRY_START = re.compile(rb'\{[ \t\n\r]*"(?:[^"\\]|\\.)*"')


class _Entity(msgspec.Struct, gc=False):
    name: str | None | UnsetType = UNSET
    names: tuple[str, ...] | UnsetType = UNSET  # a tuple, so that the raw (name, names) keys are hashable


class _Relationship(msgspec.Struct, gc=False):
    subject: _Entity
    object: _Entity


class _Image(msgspec.Struct, gc=False):
    relationships: list[_Relationship]


_RELATIONSHIPS = attrgetter("relationships")
_DECODER = msgspec.json.Decoder(list[_Image])
_RAW_KEY = attrgetter("subject.name", "subject.names", "object.name", "object.names")


def plan_ranges(path, size: int, block: int = BLOCK) -> list[tuple[int, int]] | None:
    """Byte ranges [start, stop) covering the array's entries, cut before an entry's ``,``; None when the
    file does not look like a JSON array of objects (the caller then streams it)."""
    with open(path, "rb") as f:
        head = os.pread(f.fileno(), _WINDOW, 0)
        tail = os.pread(f.fileno(), _WINDOW, max(size - _WINDOW, 0))
        body = head.lstrip(_WS)
        close = size - (len(tail) - len(tail.rstrip(_WS))) - 1
        if not body.startswith(b"[") or not tail.rstrip(_WS).endswith(b"]"):
            return None
        first = len(head) - len(body) + 1  # just after "["
        if body[1:].lstrip(_WS).startswith(b"]"):
            return []
        entry = _ENTRY_START.match(body[1:].lstrip(_WS))
        if entry is None:
            return None
        cut_at = re.compile(rb",[ \t\n\r]*" + re.escape(entry.group()))
        ranges, start = [], first
        while start + block < close:
            cut = _next_cut(f.fileno(), cut_at, start + block, close)
            if cut is None:
                break
            ranges.append((start, cut))
            start = cut + 1
        ranges.append((start, close))
    return ranges


def _next_cut(fd: int, cut_at: re.Pattern, at: int, close: int) -> int | None:
    """Offset of the first entry-opening ``,`` at or after ``at`` (None if there is none before ``close``)."""
    window = _WINDOW
    while True:
        data = os.pread(fd, window, at)
        found = cut_at.search(data)
        if found is not None and at + found.start() < close:
            return at + found.start()
        if at + len(data) >= close:
            return None
        window *= 2


def count_ranges(path, ranges: list[tuple[int, int]], relevant: frozenset[str], workers: int,
                 tick: Callable[[int], None]) -> tuple[Counter, dict] | None:
    """Decode and count every range (in ``workers`` processes); None if any range fails to decode."""
    pairs, stats = Counter(), {"images": 0, "relationships": 0}
    jobs = [(str(path), start, stop, relevant) for start, stop in ranges]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = pool.map(_count_range, jobs)
            return _merge(results, ranges, pairs, stats, tick)
    return _merge(map(_count_range, jobs), ranges, pairs, stats, tick)


def _merge(results, ranges, pairs: Counter, stats: dict, tick) -> tuple[Counter, dict] | None:
    for (_, stop), result in zip(ranges, results, strict=True):
        if result is None:
            return None
        pairs.update(result[0])
        stats["images"] += result[1]
        stats["relationships"] += result[2]
        tick(stop)
    return pairs, stats


def _count_range(job: tuple[str, int, int, frozenset[str]]) -> tuple[Counter, int, int] | None:
    """(pair counts with irrelevant words pooled, images, relationships) of one range; None if it does not decode."""
    path, start, stop, relevant = job
    with open(path, "rb") as f:
        data = os.pread(f.fileno(), stop - start, start)
    with gc_paused():
        try:
            images = _DECODER.decode(b"[" + data + b"]")
        except msgspec.DecodeError:
            return None
        relationships = list(map(_RELATIONSHIPS, images))
        raw = Counter(map(_RAW_KEY, chain.from_iterable(relationships)))  # C loops: no Python call per entity
        pairs: Counter = Counter()
        for (s_name, s_names, o_name, o_names), n in raw.items():
            if s_names == () or o_names == ():
                return None  # names[0] of an empty list: a shape error, reported by the streaming pass
            add_pooled(pairs, _word(s_name, s_names), _word(o_name, o_names), n, relevant)
        return pairs, len(images), sum(map(len, relationships))


def _word(name, names) -> str | None:
    """The streaming reader's rule on a decoded entity: ``name`` if present, else ``names[0]``, else None."""
    if name is not UNSET:
        return name
    return None if names is UNSET else names[0]


def add_pooled(pairs: Counter, s, o, n: int, relevant: frozenset[str]) -> None:
    """Add ``n`` relationships (s, o), words outside ``relevant`` replaced by None; a pair with no relevant
    word is dropped (it fires no rule)."""
    if s in relevant or o in relevant:
        pairs[(s if s in relevant else None, o if o in relevant else None)] += n


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while parsing: the parsed entries are acyclic and freed by refcounting, and
    the collector would otherwise rescan every young container (about a third of the parse time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
