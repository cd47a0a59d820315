"""CRKG node lists, synonym maps and rule tables from an editable YAML file (docs/knowledge_graph.md, "Vocabulary")."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from .errors import KGError

TASKS = ("kpt", "part", "person")
SIDES = ("L", "R")
DEFAULT_VOCAB = "crkg_release.yaml"


@dataclass(frozen=True)
class Surface:
    """One of the 24 DensePose surfaces: its name, Visual Genome base word and side group."""

    name: str
    base: str
    side: str


@dataclass(frozen=True)
class Node:
    """A 2D visual node: base label, receiving surface sides, cosine phrase, rule surfaces."""

    name: str
    base: str
    sides: tuple[str, ...]
    phrase: tuple[str, ...]
    rules: tuple[int, ...]


@dataclass(frozen=True)
class TaskVocab:
    """Everything that defines one task's graph before any data is read."""

    task: str
    base_labels: tuple[str, ...]
    syn_2d: dict[str, str]
    syn_surface: dict[str, str]
    surface_phrase_prefix: tuple[str, ...]
    leading_rows: tuple[str, ...]
    repeat_rows: tuple[str, ...]
    nodes: tuple[Node, ...]

    def row_names(self) -> list[str]:
        """Row names of the release layout: leading zero rows, then nodes (or the repeated row names)."""
        body = list(self.repeat_rows) if self.repeat_rows else [n.name for n in self.nodes]
        return list(self.leading_rows) + body


@dataclass(frozen=True)
class Vocabulary:
    """The whole vocabulary file: surfaces shared by all tasks plus one :class:`TaskVocab` per task."""

    name: str
    sha256: str
    surface_base_labels: tuple[str, ...]
    surfaces: tuple[Surface, ...]
    tasks: dict[str, TaskVocab]

    def surface_phrases(self, task: str) -> list[tuple[str, ...]]:
        """Phrase of each surface for ``task``: prefix words + the surface name split on ``_``."""
        prefix = self.tasks[task].surface_phrase_prefix
        return [prefix + tuple(s.name.split("_")) for s in self.surfaces]

    def words(self, tasks: tuple[str, ...]) -> list[str]:
        """Sorted set of every word that appears in a phrase of ``tasks`` (what the embedding must cover)."""
        words = {w for t in tasks for p in self.surface_phrases(t) for w in p}
        words |= {w for t in tasks for n in self.tasks[t].nodes for w in n.phrase}
        return sorted(words)


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """Read and check a vocabulary YAML file; ``None`` reads the built-in release vocabulary."""
    if path is None:
        data = resources.files("ktn_kg.vocab").joinpath(DEFAULT_VOCAB).read_bytes()
        name = f"builtin:{DEFAULT_VOCAB}"
    else:
        if not Path(path).is_file():
            raise KGError(f"{path}: no such vocabulary file")
        data = Path(path).read_bytes()
        name = Path(path).name
    try:
        raw = yaml.safe_load(data)
        return _parse(raw, name, hashlib.sha256(data).hexdigest())
    except (yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as e:
        raise KGError(f"{name}: not a valid CRKG vocabulary: {e}") from None


def _parse(raw: dict, name: str, sha256: str) -> Vocabulary:
    surfaces = tuple(Surface(str(s["name"]), str(s["base"]), str(s["side"])) for s in raw["surfaces"])
    if len(surfaces) != 24:
        raise ValueError(f"expected 24 surfaces, got {len(surfaces)}")
    bad = [s.name for s in surfaces if s.side not in SIDES]
    if bad:
        raise ValueError(f"surface side must be L or R: {bad}")
    tasks = {t: _parse_task(t, raw["tasks"][t]) for t in TASKS if t in raw["tasks"]}
    if "kpt" not in tasks:
        raise ValueError("the kpt task is required")
    return Vocabulary(name, sha256, tuple(raw["surface_base_labels"]), surfaces, tasks)


def _parse_task(task: str, raw: dict) -> TaskVocab:
    nodes = tuple(
        Node(str(n["name"]), str(n["base"]), tuple(n["sides"]), tuple(n["phrase"]), tuple(int(r) for r in n["rules"]))
        for n in raw["nodes"]
    )
    for n in nodes:
        if not set(n.sides) <= set(SIDES) or not all(1 <= r <= 24 for r in n.rules):
            raise ValueError(f"{task} node {n.name}: sides must be L/R and rules in 1..24")
    repeat = tuple(raw.get("repeat_rows") or ())
    if repeat and len(nodes) != 1:
        raise ValueError(f"{task}: repeat_rows needs exactly one node")
    return TaskVocab(
        task=task,
        base_labels=tuple(raw["base_labels"]),
        syn_2d=dict(raw.get("syn_2d") or {}),
        syn_surface=dict(raw.get("syn_surface") or {}),
        surface_phrase_prefix=tuple(raw.get("surface_phrase_prefix") or ()),
        leading_rows=tuple(raw.get("leading_rows") or ()),
        repeat_rows=repeat,
        nodes=nodes,
    )
