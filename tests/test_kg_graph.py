"""Graph file: round trip, determinism, content hash, schema version, safe loading, import of official pickles."""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from test_kg_support import coverage_pairs, vocab_words, word_vectors, write_glove, write_vg

from ktn_kg import BuildInputs, KGError, build_graph, load_graph
from ktn_kg.exchange import RELEASE_FILES, export_graph, import_release
from ktn_kg.graph import SCHEMA_VERSION


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kg_inputs")
    glove = write_glove(folder / "glove.txt", word_vectors(vocab_words()))
    vg = write_vg(folder / "relationships.json", coverage_pairs())
    return BuildInputs(vectors=("glove", glove), vg=vg)


@pytest.fixture(scope="module")
def graph(inputs):
    return build_graph(inputs)


def _envelope(path):
    with open(path, "rb") as f:
        return pickle.load(f)  # test-only: these are files the test itself wrote


def test_round_trip_and_api(graph, tmp_path):
    loaded = load_graph(graph.save(tmp_path / "g.pkl"))
    assert loaded.version == "v2" and loaded.recipe == {"name": "release"}
    for task, shape in [("kpt", (17, 25)), ("part", (15, 25)), ("person", (6, 25))]:
        m = loaded.matrix(task)
        assert m.dtype == np.float64 and m.shape == shape and np.array_equal(m, graph.matrix(task))
    assert loaded.names("part")[:2] == ["background", "torso"] and len(loaded.names("kpt")) == 17
    assert loaded.names("person") == ["cls_person", "cls_bg", "dx", "dy", "dw", "dh"]
    assert loaded.surface_names()[:3] == ["background", "back_torso", "front_torso"]
    assert loaded.provenance["visual_genome"]["relationships"] == len(coverage_pairs())
    assert loaded.provenance["embedding"]["file"]["name"] == "glove.txt"
    assert loaded.component("person", "I") is None and loaded.component("kpt", "I").sum() == 54


def test_two_builds_are_byte_identical(inputs, tmp_path):
    a = build_graph(inputs).save(tmp_path / "a.pkl")
    b = build_graph(inputs).save(tmp_path / "b.pkl")
    assert a.read_bytes() == b.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.pkl", "b.pkl"]  # no temp files left behind


def test_failed_write_leaves_nothing(tmp_path):
    from ktn_utils.atomic import atomic_write

    def interrupted(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "g.pkl", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_v1_graph_holds_keypoints_only(inputs, tmp_path):
    from dataclasses import replace

    g = load_graph(build_graph(replace(inputs, graph_version="v1")).save(tmp_path / "v1.pkl"))
    assert list(g.tasks) == ["kpt"] and g.matrix("kpt").shape == (17, 25)
    with pytest.raises(KGError, match="this v1 graph has no 'part' matrix"):
        g.matrix("part")
    with pytest.raises(KGError, match="unknown task 'legs'"):
        g.matrix("legs")


def test_edited_content_fails_the_hash(graph, tmp_path):
    path = graph.save(tmp_path / "g.pkl")
    env = _envelope(path)
    env["content"]["tasks"]["kpt"]["matrix"][0, 1] += 1e-9
    path.write_bytes(pickle.dumps(env, protocol=4))
    with pytest.raises(KGError, match=r"g\.pkl: content hash mismatch"):
        load_graph(path)


def test_newer_schema_is_a_clear_error(graph, tmp_path):
    path = graph.save(tmp_path / "g.pkl")
    env = _envelope(path)
    env["schema_version"] = SCHEMA_VERSION + 1
    path.write_bytes(pickle.dumps(env, protocol=4))
    with pytest.raises(KGError, match=f"schema version {SCHEMA_VERSION + 1} is not supported"):
        load_graph(path)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


def test_code_running_pickle_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"format": "ktn-crkg", "x": _RunsCode()}))
    with pytest.raises(KGError, match=r"evil\.pkl: unreadable pickle: refused: the pickle references posix\.system"):
        load_graph(tmp_path / "evil.pkl")
    assert not (tmp_path / "pwned.txt").exists()


@pytest.mark.parametrize("data", [b"", b"not a pickle", pickle.dumps([1, 2])[:-3]])
def test_unreadable_pickles(tmp_path, data):
    (tmp_path / "g.pkl").write_bytes(data)
    with pytest.raises(KGError, match=r"g\.pkl: "):
        load_graph(tmp_path / "g.pkl")


def test_not_a_graph_file(tmp_path):
    (tmp_path / "g.pkl").write_bytes(pickle.dumps({"a": np.zeros(3)}))
    with pytest.raises(KGError, match="not a ktn-kg graph file"):
        load_graph(tmp_path / "g.pkl")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_export_import_round_trip(graph, tmp_path, protocol):
    export_graph(graph, "ktn-release", tmp_path / "rel")
    for name in RELEASE_FILES.values():  # the official files may come from any pickle protocol
        arr = pickle.loads((tmp_path / "rel" / name).read_bytes())
        assert type(arr) is np.ndarray and arr.dtype == np.float64
        (tmp_path / "rel" / name).write_bytes(pickle.dumps(arr, protocol=protocol))
    imported = load_graph(import_release(tmp_path / "rel").save(tmp_path / "imp.pkl"))
    assert imported.provenance["source"] == "imported" and imported.recipe == {"name": "imported"}
    for task in graph.tasks:
        assert np.array_equal(imported.matrix(task), graph.matrix(task))


def test_import_rejects_wrong_shapes(tmp_path):
    (tmp_path / "kpt_surf_crkg.pkl").write_bytes(pickle.dumps(np.zeros((25, 17))))
    with pytest.raises(KGError, match=r"kpt_surf_crkg\.pkl: expected a float array of shape \(17, 25\)"):
        import_release(tmp_path)


def test_import_ktn_kg_does_not_import_torch():
    code = "import sys, ktn_kg; assert 'torch' not in sys.modules and 'ktn_model' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_committed_default_graphs_are_valid():
    """graphs/v1.pkl and v2.pkl load (format, hash, shapes, finiteness), hold the right tasks, come from the
    built-in embedding without Visual Genome, and share the kpt matrix bit for bit. That they are also what
    a rebuild gives, byte for byte, is test_kg_cli's test_default_embedding_rebuilds_the_committed_graphs."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "graphs"
    v1, v2 = load_graph(root / "v1.pkl"), load_graph(root / "v2.pkl")
    assert (v1.version, list(v1.tasks)) == ("v1", ["kpt"])
    assert (v2.version, list(v2.tasks)) == ("v2", ["kpt", "part", "person"])
    assert np.array_equal(v1.matrix("kpt"), v2.matrix("kpt"))
    assert v2.provenance["embedding"]["backend"] == "sentence-transformers" and v2.provenance["visual_genome"] is None
    assert v2.provenance["embedding"]["precision"] == "float64 forward pass, rounded to 6 decimals"
