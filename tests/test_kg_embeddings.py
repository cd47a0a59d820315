"""Word-vector backends (GloVe one-pass reader, word2vec text/binary, fastText .vec) and OOV handling."""

import numpy as np
import pytest
from gensim.models import KeyedVectors
from test_kg_support import word_vectors, write_glove

from ktn_kg import KGError
from ktn_kg.embeddings import load_embedder, read_glove

WORDS = ["left", "eye", "middle", "nose"]


def test_glove_reads_only_needed_words_exactly(tmp_path):
    vectors = word_vectors(WORDS + ["unused"], dim=3)
    found, dim = read_glove(write_glove(tmp_path / "g.txt", vectors), WORDS)
    assert sorted(found) == sorted(WORDS) and dim == 3
    assert found["eye"].dtype == np.float64 and found["eye"].tolist() == vectors["eye"].tolist()


def test_glove_parses_decimal_text_like_python_float(tmp_path):
    (tmp_path / "g.txt").write_text("eye 0.1 -2.5e-3 3\nnose 1 2 3")  # no trailing newline on the last line
    found, _ = read_glove(tmp_path / "g.txt", ["eye", "nose"])
    assert found["eye"].tolist() == [0.1, -0.0025, 3.0] and found["nose"].tolist() == [1.0, 2.0, 3.0]


def test_glove_scan_across_chunks_prefixes_and_line_numbers(tmp_path, monkeypatch):
    """Words split by a chunk boundary, prefixes of wanted words, \\r\\n endings, blank lines, repeats."""
    from ktn_kg import embeddings

    monkeypatch.setattr(embeddings, "_CHUNK", 7)
    text = "eyes 9 9\n\neye 1 2\r\nnose 3 4\nleft 5 6\nnose 7 8\nle 0 0\n\n  \nmiddle 1.5 -2"
    (tmp_path / "g.txt").write_text(text)
    found, dim = read_glove(tmp_path / "g.txt", WORDS)
    assert dim == 2 and {w: v.tolist() for w, v in found.items()} == {
        "eye": [1.0, 2.0], "nose": [7.0, 8.0], "left": [5.0, 6.0], "middle": [1.5, -2.0]}
    (tmp_path / "bad.txt").write_text(text.replace("left 5 6", "left 5 x"))
    with pytest.raises(KGError, match=r"bad\.txt: line 4: not a GloVe line"):
        read_glove(tmp_path / "bad.txt", WORDS)


def test_phrases_are_concatenations(tmp_path):
    vectors = word_vectors(WORDS)
    emb = load_embedder("glove", write_glove(tmp_path / "g.txt", vectors), WORDS)
    out = emb.embed([("left", "eye"), ("middle", "nose")])
    assert out.shape == (2, 8)
    assert out[0].tolist() == vectors["left"].tolist() + vectors["eye"].tolist()
    assert emb.info == {"backend": "glove", "dim": 4}


def test_oov_error_lists_words_and_zero_policy(tmp_path):
    path = write_glove(tmp_path / "g.txt", word_vectors(["left", "eye"]))
    with pytest.raises(KGError, match=r"g\.txt: words not in the vocabulary: middle, nose \(use --oov zero\)"):
        load_embedder("glove", path, WORDS)
    emb = load_embedder("glove", path, WORDS, oov="zero")
    assert emb.oov == ["middle", "nose"]
    assert emb.embed([("middle", "nose")]).tolist() == [[0.0] * 8]


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_text_and_binary(tmp_path, binary):
    vectors = word_vectors(WORDS)
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(WORDS, np.stack([vectors[w] for w in WORDS]))
    path = tmp_path / ("w.bin" if binary else "w.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    emb = load_embedder("word2vec", path, WORDS)
    assert emb.embed([("left", "eye")])[0].tolist() == vectors["left"].tolist() + vectors["eye"].tolist()


def test_fasttext_vec_text(tmp_path):
    vectors = word_vectors(WORDS)
    lines = [f"{len(WORDS)} 4"] + [w + " " + " ".join(str(x) for x in vectors[w]) for w in WORDS]
    (tmp_path / "f.vec").write_text("\n".join(lines) + "\n")
    emb = load_embedder("fasttext", tmp_path / "f.vec", WORDS)
    assert emb.info["backend"] == "fasttext" and emb.embed([("nose",)])[0].tolist() == vectors["nose"].tolist()


def test_fasttext_bin_covers_unseen_words_with_subwords(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText(sentences=[["left", "eye", "nose"]] * 5, vector_size=4, min_count=1, epochs=1, seed=1, workers=1)
    save_facebook_model(model, str(tmp_path / "ft.bin"))
    emb = load_embedder("fasttext", tmp_path / "ft.bin", WORDS)
    assert emb.oov == [] and emb.embed([("middle", "nose")]).shape == (1, 8)
    assert emb.embed([("eye",)])[0].tolist() == model.wv["eye"].astype(np.float64).tolist()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty vector file"), (b"eye 0.1 x\n", "line 1: not a GloVe line"), (b"eye 1 2\nnose 1 2 3\n", "different")],
)
def test_bad_glove_files(tmp_path, content, message):
    (tmp_path / "g.txt").write_bytes(content)
    with pytest.raises(KGError, match=message):
        load_embedder("glove", tmp_path / "g.txt", ["eye", "nose"])


def test_missing_and_unreadable_vector_files(tmp_path):
    with pytest.raises(KGError, match="no such vector file"):
        load_embedder("glove", tmp_path / "none.txt", WORDS)
    (tmp_path / "w.bin").write_bytes(b"3 4\n\x00\x01")
    with pytest.raises(KGError, match=r"w\.bin: not a word2vec binary file"):
        load_embedder("word2vec", tmp_path / "w.bin", WORDS)


def test_unknown_oov_policy():
    with pytest.raises(KGError, match="unknown --oov policy 'skip'"):
        load_embedder(None, None, WORDS, oov="skip")
