"""``ktn-kg`` end to end: build (release / paper, exact values), determinism, export/import, inspect, diff,
validate, the built-in default embedding, and every bad-input case (exit 2, one line, no output file)."""

import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from test_kg_support import HAND_MADE_PAIRS, coverage_pairs, vg_json, vocab_words, word_vectors, write_glove, write_vg
from typer.testing import CliRunner

from ktn_cli.ktn_kg import app
from ktn_kg import load_graph, load_vocabulary
from ktn_kg.recipe import rule_matrix

VOCAB = load_vocabulary()
VECTORS = word_vectors(vocab_words())
SURFACE_COUNT = {"torso": 2, "hand": 2, "foot": 2, "leg": 8, "arm": 8, "head": 2}  # surfaces per base label


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kg_cli")
    return {"glove": write_glove(folder / "glove.txt", VECTORS), "vg": write_vg(folder / "rel.json", coverage_pairs())}


@pytest.fixture(scope="module")
def release(files, tmp_path_factory):
    out = tmp_path_factory.mktemp("kg_release") / "g.pkl"
    result = run("build", "--glove", files["glove"], "--vg", files["vg"], "--out", out)
    assert result.exit_code == 0, result.output
    return out


def _phrase(words):
    return np.concatenate([VECTORS[w] for w in words])


def _cos(a, b):
    return float(a @ b / (np.sqrt(a @ a) * np.sqrt(b @ b)))


def _kpt_counts():
    """Oracle for the coverage file: kpt R1 (a, b) × (i_b + 1); person pairs add R2 (syn2D[b], b) × (2 i_b + 1)."""
    syn = VOCAB.tasks["kpt"].syn_2d
    counts = {}
    for i, b in enumerate(VOCAB.surface_base_labels):
        for a in VOCAB.tasks["kpt"].base_labels:
            counts[(a, b)] = (i + 1) + (2 * i + 1) * (syn.get(b) == a)
    return counts


def test_release_kpt_matrix_exact(release):
    counts = _kpt_counts()
    nodes, surfaces = VOCAB.tasks["kpt"].nodes, VOCAB.surfaces
    f = np.array([[counts[(n.base, s.base)] for s in surfaces] for n in nodes], dtype=np.float64)
    crn = f / np.sqrt(np.outer(f.sum(1), f.sum(0)))
    cos = np.array([[_cos(_phrase(n.phrase), _phrase(s.name.split("_"))) for s in surfaces] for n in nodes])
    expected = ((crn + cos) + rule_matrix(VOCAB.tasks["kpt"])) * 0.3
    got = load_graph(release).matrix("kpt")
    assert got[:, 0].tolist() == [0.0] * 17
    np.testing.assert_allclose(got[:, 1:], expected, rtol=0, atol=1e-12)


def test_release_person_and_part_layout(release):
    g = load_graph(release)
    x = {b: 2 * i + 1 for i, b in enumerate(VOCAB.surface_base_labels)}  # person R1 counts
    r = sum(x[b] * n for b, n in SURFACE_COUNT.items())
    person = _phrase(("full", "middle", "person"))
    cos = [_cos(person, _phrase(("full", *s.name.split("_")))) for s in VOCAB.surfaces]
    expected = [0.5 * (np.sqrt(x[s.base] / r) + c) for s, c in zip(VOCAB.surfaces, cos, strict=True)]
    got = g.matrix("person")
    assert (got == got[0]).all() and got[0, 0] == 0.0
    np.testing.assert_allclose(got[0, 1:], expected, rtol=0, atol=1e-12)
    part = g.matrix("part")
    assert part[0].tolist() == [0.0] * 25 and part[:, 0].tolist() == [0.0] * 15


def test_paper_recipe_exact(files, tmp_path):
    out = tmp_path / "paper.pkl"
    result = run("build", "--recipe", "paper", "--omega", "0.25", "--tau", "0.75", "--glove", files["glove"],
                 "--vg", files["vg"], "--out", out)
    assert result.exit_code == 0, result.output
    g = load_graph(out)
    counts = _kpt_counts()
    peak = max(counts[(n.base, s.base)] for n in VOCAB.tasks["kpt"].nodes for s in VOCAB.surfaces)
    nose, head = VOCAB.tasks["kpt"].nodes[0], VOCAB.surfaces[22]  # I = 23 (left_head): a rule edge
    cos = _cos(_phrase(nose.phrase), _phrase(head.name.split("_")))
    assert g.recipe == {"name": "paper", "omega": 0.25, "tau": 0.75}
    assert g.matrix("kpt")[0, 23] == pytest.approx(0.25 * cos + 0.75 * counts[("nose", "head")] / peak, abs=1e-12)
    cos_back = _cos(_phrase(nose.phrase), _phrase(("back", "torso")))  # I = 1: no nose rule, only the cosine
    assert g.matrix("kpt")[0, 1] == pytest.approx(0.25 * cos_back, abs=1e-12)


def test_build_is_deterministic_and_without_vg_drops_m_f(files, tmp_path):
    for name in ("a.pkl", "b.pkl"):
        assert run("build", "--glove", files["glove"], "--out", tmp_path / name).exit_code == 0
    assert (tmp_path / "a.pkl").read_bytes() == (tmp_path / "b.pkl").read_bytes()
    g = load_graph(tmp_path / "a.pkl")
    assert g.provenance["visual_genome"] is None and g.component("kpt", "M_f") is None
    expected = (g.component("kpt", "M_s") + g.component("kpt", "I")) * 0.3
    np.testing.assert_array_equal(g.matrix("kpt"), expected)


def test_default_embedding_rebuilds_the_committed_graphs_byte_for_byte():
    """The built-in path (float64 MiniLM, rounded to 6 decimals, integer dot products) gives the committed
    files exactly, and its cosine does not depend on the summation order of the 384 dimensions."""
    from ktn_kg import BuildInputs, build_graph
    from ktn_kg.embeddings import SentenceEmbedder
    from ktn_kg.recipe import cosine

    root = Path(__file__).resolve().parents[1] / "graphs"
    for version in ("v1", "v2"):
        assert build_graph(BuildInputs(graph_version=version)).to_bytes() == (root / f"{version}.pkl").read_bytes()
    vectors = SentenceEmbedder().embed([("middle", "nose"), ("left", "eye"), ("full", "back", "torso")])
    assert vectors.shape == (3, 384) and (vectors == np.rint(vectors)).all()
    np.testing.assert_allclose(np.sqrt((vectors**2).sum(axis=1)), 1e6, rtol=1e-5)
    reordered = np.random.default_rng(0).permutation(384)
    assert np.array_equal(cosine(vectors[:1], vectors), cosine(vectors[:1, reordered], vectors[:, reordered]))


@pytest.mark.parametrize("fmt", ["npz", "graphml", "gexf", "csv"])
def test_export_formats(release, tmp_path, fmt):
    out = tmp_path / f"g.{fmt}"
    assert run("export", release, "--format", fmt, "--out", out).exit_code == 0
    kpt = load_graph(release).matrix("kpt")
    if fmt == "npz":
        assert np.array_equal(np.load(out)["kpt"], kpt)
    elif fmt == "csv":
        import pandas as pd

        table = pd.read_csv(out)
        assert len(table) == 17 * 24 + 14 * 24 + 6 * 24
        assert table.query("task == 'kpt' and row == 0 and column == 23")["weight"].item() == kpt[0, 23]
    else:
        graph = (nx.read_graphml if fmt == "graphml" else nx.read_gexf)(out)
        assert graph.number_of_edges() == 17 * 24 + 14 * 24 + 6 * 24
        assert graph.nodes["kpt:0:nose"]["kind"] == "2d" and graph.nodes["I23:left_head"]["kind"] == "surface"
        assert float(graph.edges["kpt:0:nose", "I23:left_head"]["weight"]) == kpt[0, 23]


def test_export_release_then_import(release, tmp_path):
    assert run("export", release, "--format", "ktn-release", "--out", tmp_path / "rel").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "rel").iterdir()) == [
        "kpt_surf_crkg.pkl", "part_surf_crkg.pkl", "person_surf_crkg.pkl"]
    arr = pickle.loads((tmp_path / "rel" / "part_surf_crkg.pkl").read_bytes())
    assert type(arr) is np.ndarray and arr.shape == (15, 25) and arr.dtype == np.float64
    result = run("import", tmp_path / "rel", "--out", tmp_path / "imported.pkl")
    assert result.exit_code == 0, result.output
    result = run("diff", release, tmp_path / "imported.pkl")
    assert result.exit_code == 1  # the provenance differs
    assert "no edge of the common tasks differs by more than 0.0" in result.stdout
    assert "provenance.source" in result.stdout and "imported" in result.stdout


def test_inspect_validate_and_diff(release, files, tmp_path):
    result = run("inspect", release, "--task", "part", "--node", "torso", "--top", "2", "--heatmap", tmp_path / "h.png")
    assert result.exit_code == 0, result.output
    assert "provenance.embedding.backend" in result.stdout and "back_torso" in result.stdout
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shapes = "(v2, recipe release, kpt (17, 25), part (15, 25), person (6, 25))"
    assert run("validate", release).stdout.strip().endswith(shapes)
    run("build", "--glove", files["glove"], "--out", tmp_path / "novg.pkl")
    result = run("diff", release, tmp_path / "novg.pkl", "--tol", "1e-9")
    assert "edges differ by more than 1e-09" in result.stdout and "provenance.visual_genome" in result.stdout
    assert result.exit_code == 1
    result = run("diff", release, release)
    assert result.exit_code == 0 and result.stdout.strip() == "no differences beyond tol=0.0"


def _bad(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_VG = {
    "truncated": (vg_json(HAND_MADE_PAIRS)[:200], "truncated JSON at byte 200"),
    "malformed": (b'[{"relationships": [}]', "malformed or truncated JSON at byte 20"),
    "shape": (b'{"images": []}', "wrong JSON shape at byte 0"),
}


@pytest.mark.parametrize("case", sorted(BAD_VG))
def test_bad_visual_genome_exits_2_with_one_line(files, tmp_path, case):
    data, message = BAD_VG[case]
    vg = _bad(tmp_path, "rel.json", data)
    result = run("build", "--glove", files["glove"], "--vg", vg, "--out", tmp_path / "g.pkl")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {vg}: ") and message in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rel.json"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--glove", "{tmp}/none.txt"], "none.txt: no such vector file"),
        (["--glove", "{tmp}/empty.txt"], "empty.txt: empty vector file"),
        (["--glove", "{tmp}/partial.txt"], "partial.txt: words not in the vocabulary: "),
        (["--glove", "{glove}", "--vg", "{tmp}/none.json"], "none.json: no such Visual Genome file"),
        (["--glove", "{glove}", "--vg", "{tmp}/hand.json"], "ColRowNorm of the kpt Visual Genome counts is NaN"),
        (["--glove", "{glove}", "--word2vec", "{glove}"], "at most one of --glove, --word2vec, --fasttext"),
        (["--glove", "{glove}", "--recipe", "magic"], "unknown recipe 'magic'"),
        (["--glove", "{glove}", "--graph-version", "v3"], "unknown graph version 'v3'"),
        (["--glove", "{glove}", "--vocab", "{tmp}/vocab.yaml"], "vocab.yaml: not a valid CRKG vocabulary"),
        (["--glove", "{glove}", "--vocab", "{tmp}/none.yaml"], "none.yaml: no such vocabulary file"),
    ],
)
def test_bad_build_inputs_exit_2(files, tmp_path, args, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    write_glove(tmp_path / "partial.txt", {w: VECTORS[w] for w in ("left", "eye")})
    write_vg(tmp_path / "hand.json", HAND_MADE_PAIRS)
    (tmp_path / "vocab.yaml").write_text("surfaces: [1, 2]\n")
    before = set(tmp_path.iterdir())
    args = [a.format(tmp=tmp_path, glove=files["glove"]) for a in args]
    result = run("build", *args, "--out", tmp_path / "g.pkl")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", ["inspect", "validate", "export", "diff"])
def test_unreadable_graph_exits_2(tmp_path, command):
    junk = _bad(tmp_path, "junk.pkl", b"\x80\x04not really")
    extra = {"export": ["--format", "npz", "--out", tmp_path / "x.npz"], "diff": [junk]}.get(command, [])
    result = run(command, junk, *extra)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {junk}: unreadable pickle")
    assert not (tmp_path / "x.npz").exists()


def test_bad_export_and_import_requests(release, tmp_path):
    result = run("export", release, "--format", "xlsx", "--out", tmp_path / "g.xlsx")
    assert result.exit_code == 2 and "unknown export format 'xlsx'" in result.stderr
    result = run("inspect", release, "--task", "part", "--node", "elbow")
    assert result.exit_code == 2 and "no node 'elbow' in the part graph" in result.stderr
    result = run("inspect", release, "--task", "legs")
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.startswith(f"error: {release}: this v2")
    result = run("import", tmp_path, "--out", tmp_path / "imp.pkl")
    assert result.exit_code == 2 and "expected kpt_surf_crkg.pkl alone or all of" in result.stderr
    assert not (tmp_path / "imp.pkl").exists() and not (tmp_path / "g.xlsx").exists()


def _one_line_error(result, starts: str, message: str) -> None:
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.output
    assert result.stderr.startswith(f"error: {starts}") and message in result.stderr, result.stderr


def test_garbage_fasttext_model_is_one_line(tmp_path):
    garbage = _bad(tmp_path, "garbage.bin", bytes(range(256)) * 20)
    truncated = _bad(tmp_path, "truncated.bin", (793712314).to_bytes(4, "little") + b"\x0c\x00")
    for path in (garbage, truncated):
        result = run("build", "--fasttext", path, "--out", tmp_path / "g.pkl")
        _one_line_error(result, f"{path}: ", "not a fastText .bin model")
    assert not (tmp_path / "g.pkl").exists()


def _with_nan(graph_path, out):
    """A graph file whose kpt matrix holds a NaN, with a correct content hash."""
    from ktn_kg.graph import content_digest

    envelope = pickle.loads(graph_path.read_bytes())  # test-only: a file this test module wrote
    envelope["content"]["tasks"]["kpt"]["matrix"][3, 4] = np.nan
    envelope["content_sha256"] = content_digest(envelope["content"])
    out.write_bytes(pickle.dumps(envelope, protocol=4))
    return out


def test_nan_graphs_and_nan_imports_are_refused_naming_the_file(release, tmp_path):
    nan_graph = _with_nan(release, tmp_path / "nan.pkl")
    _one_line_error(run("validate", nan_graph), f"{nan_graph}: ", "kpt matrix: non-finite values")
    kpt = load_graph(release).matrix("kpt")
    kpt[0, 1] = np.nan
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "kpt_surf_crkg.pkl").write_bytes(pickle.dumps(kpt))
    result = run("import", tmp_path / "rel", "--out", tmp_path / "imported.pkl")
    _one_line_error(result, f"{tmp_path / 'rel' / 'kpt_surf_crkg.pkl'}: ", "1 non-finite values")
    assert not (tmp_path / "imported.pkl").exists()


@pytest.mark.parametrize(("option", "value", "rule"), [("--omega", "-1", "must be at least 0.0"),
                                                    ("--tau", "1.5", "must be at most 1.0"),
                                                    ("--omega", "nan", "must be a finite number")])
def test_out_of_range_weights_are_refused(files, tmp_path, option, value, rule):
    result = run("build", "--recipe", "paper", option, value, "--glove", files["glove"], "--out", tmp_path / "g.pkl")
    _one_line_error(result, f"{option} {float(value)}: {rule}", "")
    assert not (tmp_path / "g.pkl").exists()


def test_inspect_node_without_task_searches_every_task(release):
    result = run("inspect", release, "--node", "head")  # "head" is a part node only
    assert result.exit_code == 0, result.output
    assert "part: top 5 edges per node" in result.stdout and "kpt: top" not in result.stdout
    result = run("inspect", release, "--node", "elbow")
    _one_line_error(result, f"{release}: ", "no node 'elbow' in any task graph (kpt, part, person)")


def test_import_needs_out_and_heatmap_needs_an_existing_folder(release, tmp_path):
    result = run("import", tmp_path)
    assert result.exit_code == 2 and "Missing option '--out'" in result.output
    missing = tmp_path / "no" / "such" / "h.png"
    result = run("inspect", release, "--heatmap", missing)
    _one_line_error(result, f"{missing}: ", f"no such folder {missing.parent}")
    assert result.stdout == "" and not (tmp_path / "no").exists()


def test_help_cites_the_docs_and_lists_oov_values():
    assert "'error'" in run("build", "--help").stdout and "'zero'" in run("build", "--help").stdout
    assert "docs/knowledge_graph.md" in run("build", "--help").stdout
    root = Path(__file__).resolve().parents[1]
    sources = [*sorted((root / "ktn_kg").rglob("*.py")), *(root / "ktn_kg" / "vocab").glob("*.yaml"),
               root / "cli" / "ktn_kg.py", root / "graphs" / "README.md"]
    assert [p.name for p in sources if "§" in p.read_text()] == []  # no citation of a document users lack
    assert (root / "docs" / "knowledge_graph.md").is_file()
