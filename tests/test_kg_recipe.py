"""Known-answer tests of the CRKG arithmetic (docs/knowledge_graph.md; paper Eq. 1-3)."""

import numpy as np
import pytest

from ktn_kg import KGError, Recipe, load_vocabulary
from ktn_kg.recipe import col_row_norm, combine, cosine, expand_counts, release_layout, rescale_unit, rule_matrix

VOCAB = load_vocabulary()


def test_cosine_known_answer():
    e2d = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    es = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
    expected = np.array([[1.0, 0.0, 0.6], [1 / np.sqrt(2), 1 / np.sqrt(2), 7 / (np.sqrt(2) * 5)], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(cosine(e2d, es), expected, rtol=0, atol=1e-15)


def test_col_row_norm_known_answer():
    x = np.array([[1.0, 3.0], [0.0, 4.0]])  # r = (4, 4), c = (1, 7)
    expected = np.array([[0.5, 3 / np.sqrt(28)], [0.0, 4 / np.sqrt(28)]])
    np.testing.assert_allclose(col_row_norm(x), expected, rtol=0, atol=1e-15)


def test_col_row_norm_zero_row_and_column_give_nan():
    out = col_row_norm(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.0]]))
    assert np.isnan(out[0]).all() and np.isnan(out[:, 2]).all()
    np.testing.assert_allclose(out[1, :2], [1 / np.sqrt(3), 2 / np.sqrt(6)], rtol=0, atol=1e-15)


def test_col_row_norm_single_row_is_sqrt_of_share():
    x = np.array([[1.0, 3.0, 0.0]])
    out = col_row_norm(x)
    np.testing.assert_allclose(out[0, :2], [np.sqrt(1 / 4), np.sqrt(3 / 4)], rtol=0, atol=1e-15)
    assert np.isnan(out[0, 2])


def test_keypoint_rule_matrix_matches_spec_table():
    r = rule_matrix(VOCAB.tasks["kpt"])
    assert r.shape == (17, 24) and r.dtype == np.float32 and r.sum() == 54
    assert np.flatnonzero(r[9]).tolist() == [3, 18, 20]  # left_wrist → I 4, 19, 21
    assert np.flatnonzero(r[12]).tolist() == [0, 1, 6, 8]  # right_hip → I 1, 2, 7, 9
    assert np.flatnonzero(r[0]).tolist() == [22, 23]  # nose → I 23, 24


def test_part_rule_matrix_partitions_the_surfaces():
    r = rule_matrix(VOCAB.tasks["part"])
    assert r.shape == (14, 24)
    assert r.sum(axis=0).tolist() == [1.0] * 24
    assert np.flatnonzero(r[5]).tolist() == [6, 8]  # upper_right_leg → I 7, 9
    assert np.flatnonzero(r[13]).tolist() == [22, 23]  # head → I 23, 24


def test_keypoint_expansion_is_left_right_agnostic():
    f = expand_counts(VOCAB.tasks["kpt"], VOCAB.surfaces, {("nose", "head"): 3, ("eye", "leg"): 2})
    assert f[0, 22] == f[0, 23] == 3 and f[0].sum() == 6
    legs = [6, 7, 8, 9, 10, 11, 12, 13]  # I = 7..14
    assert f[1, legs].tolist() == [2.0] * 8 and f[2, legs].tolist() == [2.0] * 8 and f[1].sum() == 16


def test_part_expansion_upper_left_lower_right_asymmetry():
    f = expand_counts(VOCAB.tasks["part"], VOCAB.surfaces, {("leg", "leg"): 5, ("arm", "leg"): 2, ("torso", "leg"): 1})
    left_legs, right_legs = [7, 9, 11, 13], [6, 8, 10, 12]  # I = 8,10,12,14 (left_leg) and 7,9,11,13 (right_leg)
    for row in (5, 6):  # upper_right_leg, upper_left_leg: L-group only
        assert f[row, left_legs].tolist() == [5.0] * 4 and f[row].sum() == 20
    for row in (7, 8):  # lower_right_leg, lower_left_leg: R-group only
        assert f[row, right_legs].tolist() == [5.0] * 4 and f[row].sum() == 20
    assert f[9, left_legs].tolist() == [2.0] * 4 and f[9].sum() == 8  # upper_left_arm
    assert f[0].sum() == 8  # torso: both sides


def test_release_combination_exact():
    m_s, m_f, rules = np.array([[0.5, 0.25]]), np.array([[0.25, 0.5]]), np.array([[1, 0]], dtype=np.float32)
    kpt, used = combine(Recipe("release"), "kpt", m_s, m_f, rules)
    assert kpt.tolist() == [[(0.25 + 0.5 + 1.0) * 0.3, (0.5 + 0.25 + 0.0) * 0.3]] and used is rules
    person, used = combine(Recipe("release"), "person", m_s, m_f, rules)
    assert person.tolist() == [[0.375, 0.375]] and used is None
    no_vg, _ = combine(Recipe("release"), "part", m_s, None, rules)
    assert no_vg.tolist() == [[(0.5 + 1.0) * 0.3, 0.25 * 0.3]]


def test_paper_combination_exact():
    m_s, m_f, rules = np.array([[0.5, 0.25]]), np.array([[0.25, 0.5]]), np.array([[1, 0]], dtype=np.float32)
    out, used = combine(Recipe("paper", 0.5, 0.5), "kpt", m_s, m_f, rules)
    assert out.tolist() == [[0.375, 0.125]] and used is rules
    out, _ = combine(Recipe("paper", 0.25, 0.75), "person", m_s, m_f, rules)
    assert out.tolist() == [[0.125 + 0.75 * 0.25, 0.0625]]
    out, _ = combine(Recipe("paper", 0.25, 0.75), "kpt", m_s, None, rules)
    assert out.tolist() == [[0.125, 0.0625]]


def test_rescale_unit():
    assert rescale_unit(np.array([[0.0, 2.0], [4.0, 1.0]])).tolist() == [[0.0, 0.5], [1.0, 0.25]]
    assert rescale_unit(np.zeros((2, 2))).tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize(("task", "shape"), [("kpt", (17, 25)), ("part", (15, 25)), ("person", (6, 25))])
def test_release_layout(task, shape):
    tv = VOCAB.tasks[task]
    out = release_layout(tv, np.ones((len(tv.nodes), 24)))
    assert out.shape == shape and out[:, 0].tolist() == [0.0] * shape[0]
    assert out[:, 1:].sum() == (shape[0] - (task == "part")) * 24
    if task == "part":
        assert out[0].tolist() == [0.0] * 25


def test_unknown_recipe_is_a_clear_error():
    with pytest.raises(KGError, match="unknown recipe 'magic'"):
        Recipe("magic")
