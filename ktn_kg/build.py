"""Build a :class:`KnowledgeGraph` from a vocabulary, word vectors and (optionally) Visual Genome."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ktn_utils.versions import package_version

from .embeddings import load_embedder
from .errors import KGError
from .graph import GRAPH_VERSIONS, KnowledgeGraph, TaskGraph
from .provenance import file_record
from .recipe import Recipe, col_row_norm, combine, cosine, expand_counts, release_layout, rescale_unit, rule_matrix
from .visual_genome import count_pairs, relevant_words, rule_counts
from .vocabulary import Vocabulary, load_vocabulary


@dataclass(frozen=True)
class BuildInputs:
    """Everything ``ktn-kg build`` takes. ``vectors`` is (kind, path) with kind glove/word2vec/fasttext,
    or None for the built-in sentence-embedding default. ``workers`` processes decode a plain
    Visual Genome .json (docs/knowledge_graph.md, "Build speed")."""

    graph_version: str = "v2"
    recipe: Recipe = Recipe()
    vocab: str | Path | None = None
    vectors: tuple[str, str | Path] | None = None
    vg: str | Path | None = None
    oov: str = "error"
    progress: bool = False
    workers: int = 1


def build_graph(inputs: BuildInputs) -> KnowledgeGraph:
    """The whole construction (docs/knowledge_graph.md): embeddings → M_s, VG counts → M_f, rules → I, layout."""
    vocab, tasks = _vocabulary(inputs)
    kind, vec_path = inputs.vectors or (None, None)
    # input files are hashed in a worker thread: reads and sha256 release the GIL, so this overlaps the parsing
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = {p: pool.submit(_existing_file_record, p) for p in (vec_path, inputs.vg) if p is not None}
        embedder = load_embedder(kind, vec_path, vocab.words(tasks), inputs.oov)
        counts, vg_stats = _visual_genome_counts(inputs, vocab, tasks)
        graphs = {t: _task_graph(vocab, t, inputs.recipe, embedder, counts and counts[t]) for t in tasks}
        files = {p: f.result() for p, f in pending.items()}
    embedding = {**embedder.info, **({"file": files[vec_path]} if vec_path else {})}
    provenance = {
        "source": "built",
        "package_version": package_version(),
        "vocabulary": {"name": vocab.name, "sha256": vocab.sha256},
        "embedding": embedding,
        "oov_words": embedder.oov,
        "oov_policy": inputs.oov,
        "visual_genome": {"file": files[inputs.vg], **vg_stats} if inputs.vg else None,
    }
    surfaces = ("background", *(s.name for s in vocab.surfaces))
    return KnowledgeGraph(inputs.graph_version, inputs.recipe.as_dict(), surfaces, graphs, provenance)


def _vocabulary(inputs: BuildInputs) -> tuple[Vocabulary, tuple[str, ...]]:
    """The vocabulary and the tasks of the requested graph version, checked against each other."""
    if inputs.graph_version not in GRAPH_VERSIONS:
        raise KGError(f"unknown graph version {inputs.graph_version!r}; choose one of {', '.join(GRAPH_VERSIONS)}")
    tasks = GRAPH_VERSIONS[inputs.graph_version]
    vocab = load_vocabulary(inputs.vocab)
    missing = [t for t in tasks if t not in vocab.tasks]
    if missing:
        raise KGError(f"{vocab.name}: no vocabulary for task(s) {', '.join(missing)}")
    return vocab, tasks


def _existing_file_record(path) -> dict | None:
    """file_record, or None for a missing file (the reader of that file reports it as a one-line error)."""
    return file_record(path) if Path(path).is_file() else None


def _visual_genome_counts(inputs: BuildInputs, vocab: Vocabulary, tasks: tuple[str, ...]):
    """One streaming pass over VG for all tasks → ({task: Counter[(a, b)]}, {"images", "relationships"})."""
    if inputs.vg is None:
        return None, None
    relevant = relevant_words([vocab.tasks[t] for t in tasks], vocab.surface_base_labels)
    pairs, stats = count_pairs(inputs.vg, relevant, progress=inputs.progress, workers=inputs.workers)
    return {t: rule_counts(pairs, vocab.tasks[t], vocab.surface_base_labels) for t in tasks}, stats


def _task_graph(vocab: Vocabulary, task: str, recipe: Recipe, embedder, counts) -> TaskGraph:
    """M_s, M_f and I for one task, combined by ``recipe``; everything in the release layout."""
    tv = vocab.tasks[task]
    m_s = cosine(embedder.embed([n.phrase for n in tv.nodes]), embedder.embed(vocab.surface_phrases(task)))
    m_f = None
    if counts is not None:
        f = expand_counts(tv, vocab.surfaces, counts)
        m_f = col_row_norm(f) if recipe.name == "release" else rescale_unit(f)
        _check_finite(task, tv, f, m_f)
    matrix, rules_used = combine(recipe, task, m_s, m_f, rule_matrix(tv))
    components = {"M_s": m_s, "M_f": m_f, "I": rules_used}
    return TaskGraph(
        tuple(tv.row_names()),
        release_layout(tv, matrix),
        {k: None if v is None else release_layout(tv, v.astype(np.float64)) for k, v in components.items()},
    )


def _check_finite(task: str, tv, f: np.ndarray, m_f: np.ndarray) -> None:
    """ColRowNorm must not produce NaN (a node or surface with no VG count): one error naming them all."""
    if np.isfinite(m_f).all():
        return
    rows = [tv.nodes[k].name for k in np.flatnonzero(f.sum(axis=1) == 0)]
    cols = [str(s + 1) for s in np.flatnonzero(f.sum(axis=0) == 0)]
    raise KGError(
        f"ColRowNorm of the {task} Visual Genome counts is NaN: no counts for nodes [{', '.join(rows)}]"
        f" / surfaces I=[{', '.join(cols)}]"
    )
