"""A checked, resumable HTTP download (docs/pretrained.md, "Model zoo"): bytes go to ``FILE.part`` (a broken transfer
resumes from there with a Range request), the size must be the server's, the sha256 must start with the hash suffix
of detectron2's file names (``model_final_<6 hex>.pkl``), and only then is the file renamed to its final name."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

HASH_SUFFIX = re.compile(r"_([0-9a-f]{6,})\.\w+$")  # detectron2's model_final_<sha256 prefix>.pkl
CHUNK = 1 << 20
ATTEMPTS = 3  # transfers per download: a broken one resumes where it stopped
TIMEOUT_S = 30


class DownloadError(OSError):
    """A download that could not be completed or checked (the message says why and what to do)."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def expected_prefix(file_name: str) -> str:
    """The sha256 prefix a file name carries ("" when it carries none)."""
    match = HASH_SUFFIX.search(file_name)
    return match[1] if match else ""


def _progress(name: str, console: Console | None) -> Progress:
    console = console or Console(stderr=True)
    return Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal)


def _transfer(url: str, part: Path, progress: Progress, task) -> int:
    """One request for what ``part`` lacks; appends to it and returns the full size the server announced."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if response.status != 206:  # the whole file (no Range support, or a fresh start)
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else -1
        progress.update(task, total=total if total >= 0 else None, completed=have)
        with open(part, "ab" if have else "wb") as f:
            for block in iter(lambda: response.read(CHUNK), b""):
                f.write(block)
                progress.advance(task, len(block))
    return total


def download(url: str, dest: Path, console: Console | None = None) -> Path:
    """``url`` -> ``dest``, checked; ``DownloadError`` (``dest`` untouched) otherwise.

    A transfer that breaks off is resumed (``ATTEMPTS`` in all); what arrived stays in ``dest.part`` for the next
    call. A size other than the announced one or a sha256 that does not start with the file name's hash suffix
    removes the partial file.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = -1
    with _progress(dest.name, console) as progress:
        task = progress.add_task(dest.name, total=None)
        for _ in range(ATTEMPTS):
            try:
                total = _transfer(url, part, progress, task)
            except urllib.error.HTTPError as e:
                if e.code == 416 and part.exists():  # nothing left to send: the part is whole
                    total = part.stat().st_size
                    break
                raise DownloadError(f"{url}: the server refused the download (HTTP {e.code} {e.reason})") from None
            except (http.client.IncompleteRead, ConnectionResetError, TimeoutError):
                continue  # broken off: resume
            except (urllib.error.URLError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(f"{url}: cannot connect ({reason})") from None
            if total < 0 or part.stat().st_size == total:
                break
    got = part.stat().st_size if part.exists() else 0
    if total < 0 or got != total:
        raise DownloadError(f"{url}: the transfer broke off at {got} of {total if total >= 0 else '?'} bytes after "
                            f"{ATTEMPTS} attempts; run again to resume ({part})")
    return finish(part, dest, url)


def finish(part: Path, dest: Path, source: str) -> Path:
    """Check ``part`` against ``dest``'s hash suffix, then rename it to ``dest``; remove it when it does not match."""
    prefix = expected_prefix(dest.name)
    digest = sha256_of(part)
    if prefix and not digest.startswith(prefix):
        part.unlink()
        raise DownloadError(f"{source}: corrupt download, sha256 {digest[:12]}... does not start with {prefix} "
                            f"(the hash in the file name); nothing was kept")
    os.replace(part, dest)
    return dest
