"""Benchmark ``ktn-kg build --vg ... --glove ...`` at Visual Genome scale: wall time, CPU time, peak RSS.

Generates, in a temporary folder that is deleted afterwards, a synthetic ``relationships.json``
(about 108k images, 2.2M relationships, ~760 MB, mixing the v1.2 ``name`` and v1.4 ``names`` forms)
and a 400k-word, 300-d GloVe text file, then runs the CLI as a subprocess at each scale, next to a
naive reference in a subprocess too: ``json.load`` of the whole file, a dict count of the entity-word
pairs and a line-by-line GloVe scan (what a plain script does). CPU time and peak RSS come from
``os.wait4`` on the child (with ``--workers`` > 1, peak RSS is that of the largest process).
Goal (docs/knowledge_graph.md, "Build speed"): <= 6.5 s and <= 230 MB at full scale on an idle 2-core machine.

    .venv/bin/python benchmarks/kg_build.py [--scales 0.1 1.0] [--workers 1] [--no-naive] [--keep DIR]
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

from ktn_kg import load_vocabulary

IMAGES = 108_077
RELATIONSHIPS = 2_200_000
GLOVE_WORDS = 400_000
GLOVE_DIM = 300
FILLER = ["man", "shirt", "table", "tree", "sky", "window", "car", "dog", "street", "building", "cup", "wall"]
BODY = ["hand", "arm", "head", "leg", "foot", "torso", "person", "shoulder", "knee", "nose", "eye", "ear",
        "elbow", "wrist", "hip", "ankle", "body", "neck", "glove", "thigh", "shin", "lap", "human"]


def _entity(rng: random.Random, word: str) -> str:
    """One VG entity in the v1.2 (``name``) or v1.4 (``names``) form, with realistic extra fields."""
    x, y, w, h = rng.randint(0, 800), rng.randint(0, 600), rng.randint(1, 400), rng.randint(1, 400)
    box = f'"x": {x}, "y": {y}, "w": {w}, "h": {h}, "merged_object_ids": []'
    key = f'"name": "{word}"' if rng.random() < 0.5 else f'"names": ["{word}"]'
    return f'{{"object_id": {rng.randint(1, 5_000_000)}, {key}, "synsets": ["{word}.n.01"], {box}}}'


def _relationship_pool(rng: random.Random, size: int = 20_000) -> list[str]:
    pool = []
    for i in range(size):
        words = [rng.choice(BODY if rng.random() < 0.2 else FILLER) for _ in range(2)]
        subj, obj = _entity(rng, words[0]), _entity(rng, words[1])
        head = f'"predicate": "has", "relationship_id": {i}, "synsets": ["have.v.01"]'
        pool.append(f'{{{head}, "subject": {subj}, "object": {obj}}}')
    return pool


def write_visual_genome(path: Path, images: int, relationships: int, seed: int = 0) -> None:
    """Synthetic relationships.json with ``images`` entries and ``relationships`` relationships in total."""
    rng = random.Random(seed)
    pool = _relationship_pool(rng)
    per_image, extra = divmod(relationships, images)
    with open(path, "w") as f:
        f.write("[")
        for i in range(images):
            n = per_image + (i < extra)
            rels = ", ".join(pool[rng.randrange(len(pool))] for _ in range(n))
            f.write(f'{"," if i else ""}{{"image_id": {i + 1}, "relationships": [{rels}]}}\n')
        f.write("]")


def write_glove(path: Path, words: int, needed: list[str], seed: int = 0) -> None:
    """GloVe-format text: ``words`` lines of word + 300 floats; the vocabulary words are spread through it."""
    rng = random.Random(seed)
    rows = [" ".join(f"{rng.uniform(-1, 1):.5f}" for _ in range(GLOVE_DIM)) for _ in range(500)]
    slots = dict(zip(rng.sample(range(words), len(needed)), needed, strict=True))
    with open(path, "w") as f:
        for i in range(words):
            f.write(f"{slots.get(i, f'w{i}')} {rows[i % len(rows)]}\n")


NAIVE = """
import json, sys
from collections import Counter
vg, glove, words = sys.argv[1], sys.argv[2], set(sys.argv[3:])
def word(e):
    return e["name"] if "name" in e else e["names"][0] if "names" in e else None
with open(vg) as f:
    images = json.load(f)
pairs = Counter((word(r["subject"]), word(r["object"])) for image in images for r in image["relationships"])
vectors = {}
with open(glove) as f:
    for line in f:
        w, _, rest = line.partition(" ")
        if w in words:
            vectors[w] = [float(x) for x in rest.split()]
print(len(pairs), len(vectors))
"""


def run_build(vg: Path, glove: Path, out: Path, workers: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one ``ktn-kg build`` subprocess."""
    cmd = [str(Path(sys.executable).with_name("ktn-kg")), "build", "--vg", str(vg), "--glove", str(glove),
           "--out", str(out), "--quiet", "--workers", str(workers)]
    return _measured(cmd, stdout=subprocess.DEVNULL)


def run_naive(vg: Path, glove: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of the naive json.load + dict-count reference."""
    words = load_vocabulary().words(("kpt", "part", "person"))
    return _measured([sys.executable, "-c", NAIVE, str(vg), str(glove), *words], stdout=subprocess.DEVNULL)


def _measured(cmd: list[str], stdout=None) -> tuple[float, float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:4])} ...")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _report(label: str, measured: tuple[float, float, float]) -> None:
    wall, cpu, rss = measured
    print(f"  {label}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak RSS {rss:.0f} MiB "
          f"(load average {os.getloadavg()[0]:.1f})")


def main(scales: list[float] = typer.Option([0.1, 1.0], "--scale", help="Input sizes relative to Visual Genome."),
         workers: int = typer.Option(1, help="ktn-kg build --workers"),
         naive: bool = typer.Option(True, help="Also run the naive json.load + dict-count reference."),
         keep: Path | None = typer.Option(None, help="Write the inputs here and keep them.")) -> None:
    """Wall time, CPU time and peak RSS of ktn-kg build at Visual Genome scale, next to a naive reference."""
    work = keep or Path(tempfile.mkdtemp(prefix="kg_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        glove = work / "glove.400k.300d.txt"
        write_glove(glove, GLOVE_WORDS, load_vocabulary().words(("kpt", "part", "person")))
        print(f"glove: {glove.stat().st_size / 2**20:.0f} MiB, {GLOVE_WORDS} words x {GLOVE_DIM}")
        for scale in scales:
            vg = work / f"relationships_{scale}.json"
            write_visual_genome(vg, int(IMAGES * scale), int(RELATIONSHIPS * scale))
            print(f"scale {scale}: VG {vg.stat().st_size / 2**20:.0f} MiB, {int(IMAGES * scale)} images, "
                  f"{int(RELATIONSHIPS * scale)} relationships")
            build = run_build(vg, glove, work / f"graph_{scale}.pkl", workers)
            _report(f"ktn-kg build --workers {workers}", build)
            if naive:
                reference = run_naive(vg, glove)
                _report("naive json.load + dict count", reference)
                print(f"  ktn-kg is {reference[0] / build[0]:.1f}x faster, {reference[2] / build[2]:.1f}x less memory")
            vg.unlink()
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    typer.run(main)
