"""Shards and restartable folder runs of ``ktn infer`` (docs/inference.md, "Shards and restartable runs").

``--shard K/N`` (0 <= K < N) takes the inputs at positions K, K + N, K + 2N, ... of the collected input list (the
list is deterministic: folders sorted, patterns sorted, in the order given), so N array jobs cover every input
once. Every image's outputs are written atomically and its detections last, as one part file
``OUT/.parts/<name>.json``: an image whose part exists is done and is skipped by a later run. A finished video
(its finished segments joined into place, its tracks written) gets an empty part the same way and is skipped
while its outputs exist; a killed video continues from its last finished segment (``video.annotate_video``).
At the end of every run ``results.json`` is rewritten from the parts present for the image names of the whole
input list, in input order, under a lock, so the last shard to
finish (or a restart) leaves the same file one uninterrupted run writes.
"""

from __future__ import annotations

import fcntl
import json
import re
from pathlib import Path

from ktn_utils.atomic import atomic_write

PARTS_DIR = ".parts"
SHARD = re.compile(r"(\d+)/(\d+)")
STALE_TEMP = re.compile(r"\..+\.(png|json|npz)\.[^.]+\.tmp")  # ``atomic_write``'s ".NAME.*.tmp" of our outputs


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 0 <= K < N; None -> (0, 1), the whole list. ValueError otherwise."""
    if text is None:
        return 0, 1
    match = SHARD.fullmatch(text.strip())
    if not match or not 0 <= int(match[1]) < int(match[2]):
        raise ValueError(f"--shard {text}: expected K/N with 0 <= K < N (e.g. 0/4 ... 3/4)")
    return int(match[1]), int(match[2])


def in_shard(position: int, shard: tuple[int, int]) -> bool:
    """Whether the input at 0-based ``position`` of the list belongs to ``shard`` = (K, N)."""
    return position % shard[1] == shard[0]


def part_path(out_dir: Path, name: str) -> Path:
    return out_dir / PARTS_DIR / f"{name}.json"


def is_done(out_dir: Path, name: str) -> bool:
    """Whether the input ``name`` (its output name) was completed by an earlier run (for a video, see
    ``InferenceRun.done``: its annotated video must also be there)."""
    return part_path(out_dir, name).is_file()


def write_part(out_dir: Path, name: str, results: list[dict]) -> None:
    """Record one input's detections (after its outputs), atomically: the input is done. A video's part is empty
    (``[]``): its detections are not in results.json."""
    data = json.dumps(results).encode()
    atomic_write(part_path(out_dir, name), lambda f: f.write(data))


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete the temporary files a killed run left (``atomic_write``'s, of PNG, json and video state outputs); how
    many."""
    stale = [p for p in out_dir.rglob(".*.tmp") if p.is_file() and STALE_TEMP.fullmatch(p.name)]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def merge_results(out_dir: Path, names: list[str], results_file: str) -> Path:
    """Write ``out_dir/results_file`` from the parts of ``names`` that exist, in that order (under a lock file, so
    that of several shards finishing together the last merge, which sees every part, is the one that stays)."""
    parts = out_dir / PARTS_DIR
    if not parts.is_dir():  # no image done (e.g. videos only): nothing to merge
        return atomic_write(out_dir / results_file, lambda f: f.write(b"[]"))
    with open(parts / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        merged = []
        for name in names:
            if is_done(out_dir, name):
                merged.extend(json.loads(part_path(out_dir, name).read_text()))
        data = json.dumps(merged).encode()
        return atomic_write(out_dir / results_file, lambda f: f.write(data))
