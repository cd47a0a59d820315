"""The versioned CRKG graph file and its in-memory form, :class:`KnowledgeGraph`.

File = pickle (protocol 4) of ``{"format": "ktn-crkg", "schema_version": 1, "content_sha256": h,
"content": {...}}``. ``content`` holds only builtin types and float64 numpy arrays; ``h`` is a
canonical sha256 over it (:func:`content_digest`), so it does not depend on pickle details.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ktn_utils.atomic import atomic_write
from ktn_utils.safe_pickle import safe_load

from .errors import KGError
from .vocabulary import TASKS

FORMAT_TAG = "ktn-crkg"
SCHEMA_VERSION = 1
GRAPH_VERSIONS = {"v1": ("kpt",), "v2": TASKS}
COMPONENTS = ("M_s", "M_f", "I")
RELEASE_SHAPES = {"kpt": (17, 25), "part": (15, 25), "person": (6, 25)}


@dataclass(frozen=True)
class TaskGraph:
    """One task's graph in the release layout: row names, combined matrix (R, 25) and its components.

    ``components`` maps M_s / M_f / I to (R, 25) arrays in the same layout, or None for a term the
    recipe did not use (M_f without Visual Genome, I for the release person graph).
    """

    rows: tuple[str, ...]
    matrix: np.ndarray
    components: dict[str, np.ndarray | None] = field(default_factory=dict)


@dataclass(frozen=True)
class KnowledgeGraph:
    """A CRKG: graph version, recipe, the 25 surface names, per-task graphs and provenance."""

    version: str
    recipe: dict
    surfaces: tuple[str, ...]
    tasks: dict[str, TaskGraph]
    provenance: dict

    def matrix(self, task: str) -> np.ndarray:
        """Combined matrix of ``task`` in the release layout, float64: kpt (17, 25), part (15, 25), person (6, 25)."""
        return self._task(task).matrix.copy()

    def names(self, task: str) -> list[str]:
        """Row node names of ``task`` (part starts with "background"; person rows are cls/box rows)."""
        return list(self._task(task).rows)

    def surface_names(self) -> list[str]:
        """The 25 column names: "background" then the 24 DensePose surfaces in I order."""
        return list(self.surfaces)

    def component(self, task: str, name: str) -> np.ndarray | None:
        """Component M_s, M_f or I of ``task`` (release layout) or None when the recipe did not use it."""
        if name not in COMPONENTS:
            raise KGError(f"unknown component {name!r}; choose one of {', '.join(COMPONENTS)}")
        value = self._task(task).components.get(name)
        return None if value is None else value.copy()

    def _task(self, task: str) -> TaskGraph:
        if task not in self.tasks:
            if task in TASKS:
                raise KGError(f"this {self.version} graph has no {task!r} matrix (it holds {', '.join(self.tasks)})")
            raise KGError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        return self.tasks[task]

    def content(self) -> dict:
        """The hashed file content: builtin types and float64 arrays only, in a fixed key order."""
        return {
            "graph_version": self.version,
            "recipe": self.recipe,
            "surfaces": list(self.surfaces),
            "tasks": {
                t: {"rows": list(g.rows), "matrix": g.matrix, "components": _component_dict(g)}
                for t, g in self.tasks.items()
            },
            "provenance": self.provenance,
        }

    def to_bytes(self) -> bytes:
        """Serialised file bytes; identical graphs give identical bytes."""
        content = self.content()
        envelope = {
            "format": FORMAT_TAG,
            "schema_version": SCHEMA_VERSION,
            "content_sha256": content_digest(content),
            "content": content,
        }
        return pickle.dumps(envelope, protocol=4)

    def save(self, path: str | Path) -> Path:
        """Write the graph file atomically (temp file + rename)."""
        data = self.to_bytes()
        return atomic_write(path, lambda f: f.write(data))


def _component_dict(g: TaskGraph) -> dict:
    return {c: g.components.get(c) for c in COMPONENTS}


def content_digest(obj) -> str:
    """Canonical sha256 of nested dict/list/str/int/float/bool/None/ndarray values."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h, obj) -> None:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj, dtype=obj.dtype.newbyteorder("<"))
        h.update(f"nd{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(obj, dict):
        h.update(f"d{len(obj)}".encode())
        for key in sorted(obj, key=str):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, list | tuple):
        h.update(f"l{len(obj)}".encode())
        for item in obj:
            _feed(h, item)
    elif obj is None or isinstance(obj, bool | int | float | str):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    else:
        raise KGError(f"cannot hash a value of type {type(obj).__name__}")


def load_graph(path: str | Path) -> KnowledgeGraph:
    """Load a graph file safely (no code execution) and check format, schema version, shapes and hash."""
    envelope = safe_load(path, KGError)
    content = check_envelope(envelope, str(path))
    try:
        return _from_content(content, str(path))
    except (KeyError, TypeError, AttributeError) as e:
        raise KGError(f"{path}: malformed graph content: {e!r}") from None


def check_envelope(envelope, source: str) -> dict:
    """Validate the outer record (tag, schema version, content hash) and return the content."""
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT_TAG:
        raise KGError(f"{source}: not a ktn-kg graph file (no {FORMAT_TAG!r} format tag)")
    schema = envelope.get("schema_version")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION or schema < 1:
        raise KGError(
            f"{source}: graph schema version {schema!r} is not supported (this ktn_kg reads up to {SCHEMA_VERSION});"
            " upgrade ktn"
        )
    content = envelope.get("content")
    if not isinstance(content, dict) or content_digest(content) != envelope.get("content_sha256"):
        raise KGError(f"{source}: content hash mismatch (file corrupted or edited)")
    return content


def _from_content(content: dict, source: str) -> KnowledgeGraph:
    tasks = {
        t: TaskGraph(tuple(g["rows"]), g["matrix"], dict(g["components"])) for t, g in content["tasks"].items()
    }
    graph = KnowledgeGraph(
        content["graph_version"], content["recipe"], tuple(content["surfaces"]), tasks, content["provenance"]
    )
    problems = graph_problems(graph)
    if problems:
        raise KGError(f"{source}: " + "; ".join(problems))
    return graph


def graph_problems(graph: KnowledgeGraph) -> list[str]:
    """Shape, dtype, finiteness and task-set checks; an empty list means the graph is valid."""
    problems = []
    expected = GRAPH_VERSIONS.get(graph.version)
    if expected is None:
        return [f"unknown graph version {graph.version!r}"]
    if tuple(graph.tasks) != expected:
        problems.append(f"{graph.version} graph must hold {expected}, holds {tuple(graph.tasks)}")
    if len(graph.surfaces) != 25:
        problems.append(f"expected 25 surface names, got {len(graph.surfaces)}")
    for task, g in graph.tasks.items():
        shape = RELEASE_SHAPES.get(task)
        if shape is None:
            continue
        if len(g.rows) != shape[0]:
            problems.append(f"{task}: {len(g.rows)} row names, expected {shape[0]}")
        problems += _array_problems(task, "matrix", g.matrix, shape)
        for name, arr in g.components.items():
            if arr is not None:
                problems += _array_problems(task, name, arr, shape)
    return problems


def _array_problems(task: str, name: str, arr, shape: tuple[int, int]) -> list[str]:
    if not isinstance(arr, np.ndarray) or arr.dtype != np.float64:
        return [f"{task} {name}: not a float64 array"]
    if arr.shape != shape:
        return [f"{task} {name}: shape {arr.shape}, expected {shape}"]
    if not np.isfinite(arr).all():
        return [f"{task} {name}: non-finite values"]
    return []
