"""Input writers shared by the ktn_kg tests (small GloVe, word2vec and Visual Genome files); no tests here."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import numpy as np

from ktn_kg import load_vocabulary

# (subject, object) of the hand-made Visual Genome file; None = an entity with neither name nor names.
# The comments give what each relationship adds in the kpt / part / person graphs (docs/knowledge_graph.md).
HAND_MADE_PAIRS = [
    ("nose", "head"),  # kpt R1 (nose, head); part R1 (head, head)
    ("hand", "cup"),  # kpt R2 (wrist, hand); part R1 (hand, hand)
    ("man", "glove"),  # nothing anywhere
    ("person", "glove"),  # person R3 (person, hand)
    ("eye", "neck"),  # kpt R3 (eye, head)
    ("hand", "arm"),  # kpt R2 4 cells; part R1 4 cells
    ("body", "leg"),  # kpt R2 (shoulder, leg); part R1 (leg, leg); person R2 (person, leg)
    ("knee", "knee"),  # W = {knee}: nothing
    (None, "torso"),  # kpt R2 (shoulder, torso); part R1 (torso, torso)
    ("Hand", "arm"),  # no lower-casing: kpt R2 (elbow, arm); part R1 (arm, arm)
    ("wrist", "hand"),  # kpt R1 only (R2 would hit the same cell): (wrist, hand); part (hand, hand)
]
HAND_MADE_COUNTS = {
    "kpt": {("nose", "head"): 1, ("wrist", "hand"): 3, ("eye", "head"): 1, ("wrist", "arm"): 1,
            ("elbow", "hand"): 1, ("elbow", "arm"): 2, ("shoulder", "leg"): 1, ("shoulder", "torso"): 1},
    "part": {("head", "head"): 1, ("hand", "hand"): 3, ("hand", "arm"): 1, ("arm", "hand"): 1,
             ("arm", "arm"): 2, ("leg", "leg"): 1, ("torso", "torso"): 1},
    "person": {("person", "hand"): 1, ("person", "leg"): 1},
}


def entity(word: str | None, i: int) -> dict:
    """A VG entity, alternating the v1.2 ``name`` and v1.4 ``names`` forms."""
    ent = {"object_id": i, "x": 1, "y": 2, "w": 3, "h": 4, "synsets": []}
    if word is not None:
        ent.update({"name": word} if i % 2 else {"names": [word, "ignored"]})
    return ent


def vg_json(pairs: list[tuple[str | None, str | None]], per_image: int = 3) -> bytes:
    """relationships.json bytes: ``pairs`` spread over images of ``per_image`` relationships."""
    rels = [{"predicate": "near", "relationship_id": i, "subject": entity(s, 2 * i), "object": entity(o, 2 * i + 1)}
            for i, (s, o) in enumerate(pairs)]
    images = [{"image_id": k, "relationships": rels[k:k + per_image]} for k in range(0, len(rels), per_image)]
    return json.dumps(images, indent=1).encode()


def write_vg(path: Path, pairs, form: str = "json") -> Path:
    """Write the VG file as plain ``json``, ``gz`` or a ``zip`` holding relationships.json."""
    data = vg_json(pairs)
    if form == "gz":
        path.write_bytes(gzip.compress(data, mtime=0))
    elif form == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("relationships.json", data)
    else:
        path.write_bytes(data)
    return path


def coverage_pairs() -> list[tuple[str, str]]:
    """Pairs that give every node and surface of all three tasks a non-zero count (no NaN in ColRowNorm)."""
    vocab = load_vocabulary()
    pairs = []
    for i, b in enumerate(vocab.surface_base_labels):
        pairs += [(a, b) for a in vocab.tasks["kpt"].base_labels] * (i + 1)
        pairs += [("person", b)] * (2 * i + 1)
    return pairs


def word_vectors(words: list[str], dim: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic small vectors with values exactly representable in short decimal text."""
    rng = np.random.default_rng(seed)
    return {w: rng.integers(-8, 9, size=dim) / 4.0 for w in words}


def write_glove(path: Path, vectors: dict[str, np.ndarray], extra: int = 5) -> Path:
    """GloVe text (no header): filler words around the given vectors."""
    lines = [f"filler{i} " + " ".join(["0.5"] * len(next(iter(vectors.values())))) for i in range(extra)]
    lines += [w + " " + " ".join(repr(float(x)) for x in v) for w, v in vectors.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def vocab_words() -> list[str]:
    """Every word the three tasks' phrases need."""
    return load_vocabulary().words(("kpt", "part", "person"))
