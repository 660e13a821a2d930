"""genzoo_analysis.simplex: plane coordinates of proportions and Hellinger distances, against values worked
out by hand."""

import numpy as np
import pytest

from genzoo_analysis import simplex


def test_corners_and_centre_of_the_ternary_plot():
    corners = simplex.project(np.eye(3))
    np.testing.assert_allclose(corners, [[0, 0], [1, 0], [0.5, np.sqrt(3) / 2]], atol=1e-15)
    np.testing.assert_allclose(simplex.project([[1, 1, 1]])[0], [0.5, np.sqrt(3) / 6], atol=1e-15)
    # Counts are normalized first: 2 of class 0 and 2 of class 1 lie midway on the bottom edge.
    np.testing.assert_allclose(simplex.project([[2, 2, 0]])[0], [0.5, 0.0], atol=1e-15)


@pytest.mark.parametrize("k", [2, 4, 6])
def test_other_class_counts_put_each_pure_mixture_on_its_own_corner(k):
    corners = simplex.project(np.eye(k))
    np.testing.assert_allclose(corners, simplex.vertices(k), atol=1e-15)
    assert len({tuple(np.round(c, 9)) for c in corners}) == k
    # The uniform mixture sits at the corners' centre.
    np.testing.assert_allclose(simplex.project(np.ones((1, k)))[0], simplex.vertices(k).mean(axis=0), atol=1e-12)


def test_hellinger_distance_known_values():
    P = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    H = simplex.hellinger(P)
    np.testing.assert_allclose(np.diag(H), 0, atol=1e-7)
    assert H[0, 1] == pytest.approx(1.0)                              # disjoint supports
    assert H[0, 2] == pytest.approx(np.sqrt(1 - np.sqrt(0.5)))        # sqrt(1 - sum sqrt(p q))
    np.testing.assert_allclose(H, H.T)


def test_chordal_distance_of_shapes_is_sqrt2_hellinger():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=20)
    Q = rng.dirichlet(np.ones(3), size=7)
    u, v = simplex.shape(P), simplex.shape(Q)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1)
    chordal = np.linalg.norm(u[:, None] - v[None], axis=2)
    np.testing.assert_allclose(chordal, np.sqrt(2) * simplex.hellinger(P, Q), atol=1e-7)


def test_normalize_leaves_empty_rows_zero():
    np.testing.assert_array_equal(simplex.normalize([[0, 0, 0], [1, 3, 0]]), [[0, 0, 0], [0.25, 0.75, 0]])
