"""Visual Genome counting (docs/knowledge_graph.md): both entity forms, the three rules, compressed inputs, bad input,
and the byte-range path against the stream."""

import gzip
from collections import Counter

import pytest
from test_kg_support import HAND_MADE_COUNTS, HAND_MADE_PAIRS, vg_json, write_vg

from ktn_kg import KGError, load_vocabulary
from ktn_kg.visual_genome import count_pairs, relevant_words, rule_counts

VOCAB = load_vocabulary()
RELEVANT = relevant_words(VOCAB.tasks.values(), VOCAB.surface_base_labels)


def _counts(path):
    pairs, stats = count_pairs(path, RELEVANT)
    return {t: dict(rule_counts(pairs, VOCAB.tasks[t], VOCAB.surface_base_labels)) for t in VOCAB.tasks}, stats


@pytest.mark.parametrize("form", ["json", "gz", "zip"])
def test_hand_made_counts_all_rules(tmp_path, form):
    counts, stats = _counts(write_vg(tmp_path / f"rel.{form}", HAND_MADE_PAIRS, form))
    assert counts == HAND_MADE_COUNTS
    assert stats == {"images": 4, "relationships": 11}


def test_counts_add_up_over_repeats(tmp_path):
    counts, _ = _counts(write_vg(tmp_path / "rel.json", HAND_MADE_PAIRS * 3))
    assert counts["kpt"][("wrist", "hand")] == 9 and counts["part"][("hand", "hand")] == 9


def test_irrelevant_words_are_pooled(tmp_path):
    path = write_vg(tmp_path / "rel.json", [("cat", "dog"), ("hand", "cup"), ("hand", "mug")])
    pairs, _ = count_pairs(path, RELEVANT)
    assert dict(pairs) == {("hand", None): 2}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (vg_json(HAND_MADE_PAIRS)[:300], "truncated JSON at byte 300 (0-based): parse error: premature EOF"),
        (b'[{"relationships": [}]', "malformed or truncated JSON at byte 20 (0-based)"),
        (b'{"relationships": []}', "wrong JSON shape at byte 0: expected a list of image entries"),
        (b'[{"image_id": 1}]', "wrong JSON shape near byte 17: missing key 'relationships'"),
        (b'[{"relationships": [{"subject": "hand", "object": {}}]}]', "wrong JSON shape near byte 56"),
        (b'[{"relationships": {"a": 1}}]', "wrong JSON shape near byte 29: 'relationships' is not a list"),
    ],
)
def test_bad_json_names_file_and_offset(tmp_path, data, message):
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(KGError, match=r"^.*bad\.json: ") as info:
        count_pairs(path, RELEVANT)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_malformed_offset_is_exact_deep_in_a_large_file(tmp_path):
    data = vg_json(HAND_MADE_PAIRS * 400)
    pos = data.index(b":", 300_000)
    (tmp_path / "bad.json").write_bytes(data[:pos] + b"!" + data[pos + 1 :])
    with pytest.raises(KGError, match=f"at byte {pos} "):
        count_pairs(tmp_path / "bad.json", RELEVANT)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "rel.json.gz"
    path.write_bytes(gzip.compress(vg_json(HAND_MADE_PAIRS * 50))[:400])
    with pytest.raises(KGError, match=r"rel\.json\.gz: (cannot decompress|malformed or truncated JSON) at byte"):
        count_pairs(path, RELEVANT)


def test_missing_file(tmp_path):
    with pytest.raises(KGError, match="no such Visual Genome file"):
        count_pairs(tmp_path / "none.json", RELEVANT)


def test_edited_vocabulary_file_changes_the_rules(tmp_path):
    from importlib import resources

    text = resources.files("ktn_kg.vocab").joinpath("crkg_release.yaml").read_text()
    edited = tmp_path / "vocab.yaml"
    edited.write_text(text.replace("hand: wrist, ", ""))
    vocab = load_vocabulary(edited)
    assert "hand" not in vocab.tasks["kpt"].syn_2d and vocab.name == "vocab.yaml"
    pairs, _ = count_pairs(write_vg(tmp_path / "rel.json", HAND_MADE_PAIRS), RELEVANT)
    counts = rule_counts(pairs, vocab.tasks["kpt"], vocab.surface_base_labels)
    assert counts[("wrist", "hand")] == 1 and counts[("wrist", "arm")] == 0 and counts[("elbow", "arm")] == 2


def _ranged(path, block, workers):
    """The byte-range path alone (None would mean it fell back to streaming)."""
    from ktn_kg.vg_ranges import count_ranges, plan_ranges

    ranges = plan_ranges(path, path.stat().st_size, block)
    return ranges, count_ranges(path, ranges, RELEVANT, workers, lambda done: None)


@pytest.mark.parametrize("workers", [1, 2])
def test_byte_ranges_count_exactly_like_the_stream(tmp_path, workers):
    from ktn_kg.visual_genome import _count_stream

    path = write_vg(tmp_path / "rel.json", HAND_MADE_PAIRS * 40)  # 147 images of about 1 KB
    ranges, counted = _ranged(path, 4096, workers)
    assert len(ranges) > 20 and ranges[0][0] == 1 and ranges[-1][1] == path.stat().st_size - 1
    assert all(path.read_bytes()[stop : stop + 1] == b"," for _, stop in ranges[:-1])
    assert counted == _count_stream(path, RELEVANT, False)
    assert counted[1] == {"images": 147, "relationships": 440}
    assert counted[0][("wrist", "hand")] == 40 and counted[0][("hand", None)] == 40


def test_byte_ranges_with_two_entry_forms_still_count_exactly(tmp_path):
    from ktn_kg.visual_genome import _count_stream

    data = vg_json(HAND_MADE_PAIRS * 40)
    assert data.count(b'{\n  "image_id"') == 147
    odd = data.replace(b'{\n  "image_id"', b'{\n  "relationships": [], "image_id"', 7)  # cuts only near the start
    path = tmp_path / "odd.json"
    path.write_bytes(odd)
    assert count_pairs(path, RELEVANT, block=4096) == _count_stream(path, RELEVANT, False)


def test_byte_ranges_fall_back_to_the_stream_for_shape_errors(tmp_path):
    data = vg_json(HAND_MADE_PAIRS * 40)
    empty_names = data.replace(b'"names": [\n      "hand",\n      "ignored"\n     ]', b'"names": []', 1)
    (tmp_path / "empty.json").write_bytes(empty_names)
    assert _ranged(tmp_path / "empty.json", 4096, 1)[1] is None
    with pytest.raises(KGError, match=r"empty\.json: wrong JSON shape near byte \d+: list index out of range"):
        count_pairs(tmp_path / "empty.json", RELEVANT, block=4096)


def test_empty_array_and_whitespace_around_it(tmp_path):
    (tmp_path / "rel.json").write_bytes(b" \n[ \n]\n ")
    assert _ranged(tmp_path / "rel.json", 4096, 1) == ([], (Counter(), {"images": 0, "relationships": 0}))
