"""Reading a large JSON file one record at a time, with each record's byte span, so that it can be read again.

The evaluator keeps only a small index of the records (``docs/densepose_format.md``, "Speed and memory"): ``records``
yields the elements of a top-level array, or of the array under one key of a top-level object (the other
values of that object are returned whole), each parsed by the standard library's JSON decoder together with
its ``(start, end)`` byte offsets; ``SpanReader.read(start, end)`` parses a record again. The file is read
in blocks of ``BLOCK`` bytes, decoded as Latin-1 so that a character offset is a byte offset; a block that
is not pure ASCII has its records parsed again from their bytes as UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

BLOCK = 1 << 22
_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class _Blocks:
    """A growing text window over a binary file: ``text[pos:]`` is unread, ``base`` its byte offset."""

    def __init__(self, f: IO[bytes], path: Path):
        self.f, self.path = f, path
        self.text, self.base, self.pos, self.eof = "", 0, 0, False

    def more(self) -> bool:
        """Append the next block (dropping what was read); False at the end of the file."""
        data = self.f.read(BLOCK)
        if not data:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + data.decode("latin-1")
        self.base += self.pos
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-whitespace character ('' at the end of the file), which stays unread."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def expect(self, chars: str, what: str) -> str:
        char = self.peek()
        if not char or char not in chars:
            found = repr(char) if char else "the end of the file"
            raise ValueError(f"{self.path}: not valid JSON (expected {what} at byte {self.base + self.pos}, "
                             f"found {found})")  # fmt: skip
        self.pos += 1
        return char

    def value(self) -> tuple[Any, int, int]:
        """The next JSON value and its byte span; a value cut by the block end is read again with more text."""
        self.peek()
        while True:
            try:
                obj, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as e:
                if self.more():
                    continue
                raise ValueError(f"{self.path}: not valid JSON ({e.msg} at byte {self.base + e.pos})") from None
            if end == len(self.text) and not self.eof and self.more():
                continue  # a number may go on in the next block
            start, self.pos = self.pos, end
            if not self.text[start:end].isascii():
                obj = _parse_utf8(self.text[start:end].encode("latin-1"), self.path, self.base + start)
            return obj, self.base + start, self.base + end


def _parse_utf8(raw: bytes, path: Path, offset: int):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not valid UTF-8 at byte {offset + e.start}") from None


def _open(path: Path, what: str = "file") -> IO[bytes]:
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a directory, expected a JSON file") from None


def _elements(blocks: _Blocks) -> Iterator[tuple[Any, int, int]]:
    """The elements of the array whose '[' was just read."""
    if blocks.peek() == "]":
        blocks.pos += 1
        return
    while True:
        yield blocks.value()
        if blocks.expect(",]", "',' or ']'") == "]":
            return


def records(path: str | Path, key: str | None = None, others: dict | None = None,
            what: str = "file") -> Iterator[tuple[Any, int, int]]:  # fmt: skip
    """``(record, start, end)`` for each element of the top-level array (``key`` None) or of ``obj[key]``.

    With ``key``, the file must be an object; its other members are stored in ``others`` as they are read
    (all of them once the iteration ends), and a missing or non-list ``key`` yields nothing. ``what`` names
    the kind of file in the errors.
    """
    path = Path(path)
    with _open(path, what) as f:
        blocks = _Blocks(f, path)
        container = "[" if key is None else "{"
        if blocks.peek() != container:
            raise ValueError(f"{path}: not a {what} (expected a JSON {'list' if key is None else 'object'})")
        if key is None:
            blocks.pos += 1
            yield from _elements(blocks)
        else:
            yield from _members(blocks, key, others if others is not None else {})
        if blocks.peek():
            raise ValueError(f"{path}: not valid JSON (extra data at byte {blocks.base + blocks.pos})")


def _members(blocks: _Blocks, key: str, others: dict) -> Iterator[tuple[Any, int, int]]:
    blocks.pos += 1  # the '{'
    if blocks.peek() == "}":
        blocks.pos += 1
        return
    while True:
        name, _, _ = blocks.value()
        if not isinstance(name, str):
            raise ValueError(f"{blocks.path}: not valid JSON (an object key must be a string)")
        blocks.expect(":", "':'")
        if name == key and blocks.peek() == "[":
            blocks.pos += 1
            others[name] = []
            yield from _elements(blocks)
        else:
            others[name], _, _ = blocks.value()
        if blocks.expect(",}", "',' or '}'") == "}":
            return


class SpanReader:
    """Parses the record at a byte span of ``path`` again (the file stays open; use as a context manager)."""

    def __init__(self, path: str | Path, what: str = "file"):
        self.path, self.what = Path(path), what
        self.f = _open(self.path, what)

    def reopen(self) -> None:
        """A file of its own (a forked process must not share the parent's file position)."""
        self.f = _open(self.path, self.what)

    def read(self, start: int, end: int):
        self.f.seek(start)
        return _parse_utf8(self.f.read(end - start), self.path, start)

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> SpanReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
