"""genzoo_analysis.som, seed 003's Kohonen map, on data whose answer is known: one SG step worked out by hand,
well-separated Gaussian clusters (every unit pure, each cluster one region of the map, ridges of the
U-matrix between them), a line and a square that the map must unfold in order, and hand-built maps for the
quantization and topographic errors."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.stats import spearmanr

from genzoo_analysis import som


def clusters(k=4, dim=10, per_cluster=100, spread=0.3, seed=1):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, dim))
    labels = np.repeat(np.arange(k), per_cluster)
    return centres[labels] + rng.normal(0, spread, (k * per_cluster, dim)), labels


# ---- the update rule


def test_one_sg_step_with_hard_competition_moves_only_the_winner():
    W = np.zeros((2, 3, 2))
    W[0, 1] = [1.0, 1.0]   # the unit nearest x
    x = np.array([[2.0, 3.0]])
    m = som.train(x, init=W, steps=1, eta=(0.3, 0.3), sigma=(0.1, 0.1))
    expected = W.copy()
    expected[0, 1] += 0.3 * (x[0] - W[0, 1])  # w_y += eta (x - w_y); neighbours at r = 1 > 3 sigma get nothing
    np.testing.assert_allclose(m.weights, expected, atol=1e-15)


def test_one_sg_step_with_soft_competition_pulls_neighbours_by_the_kernel():
    W = np.zeros((3, 3, 2))
    W[1, 1] = [1.0, 0.0]
    x = np.array([[3.0, 2.0]])
    sigma, eta = 1.0, 0.5
    m = som.train(x, init=W, steps=1, eta=(eta, eta), sigma=(sigma, sigma))
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(3), indexing="ij"), axis=2)
    r2 = ((grid - [1, 1]) ** 2).sum(axis=2)
    kernel = np.exp(-r2 / (2 * sigma ** 2))           # K(r): 1 at the winner, e^-1/2 at r = 1, e^-1 at r = sqrt 2
    expected = W + eta * kernel[:, :, None] * (x[0] - W)
    np.testing.assert_allclose(m.weights, expected, atol=1e-15)


def test_training_is_deterministic_per_seed():
    X, _ = clusters(per_cluster=20)
    a, b, c = som.train(X, seed=3, steps=500), som.train(X, seed=3, steps=500), som.train(X, seed=4, steps=500)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.allclose(a.weights, c.weights)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        som.train(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="init"):
        som.train(np.zeros((4, 2)), init="kmeans")
    with pytest.raises(ValueError, match="non-empty"):
        som.train(np.zeros((0, 3)))


# ---- clusters with a known answer


@pytest.mark.parametrize("init,batch_size", [("random", 1), ("pca", 1), ("random", 16)])
def test_separated_clusters_get_pure_contiguous_regions(init, batch_size):
    X, labels = clusters()
    Z, _, _ = som.standardize(X)
    m = som.train(Z, seed=0, init=init, batch_size=batch_size)
    assert (m.rows, m.cols) == som.map_size(Z)
    bmus = m.bmu(Z)
    majority, names = m.unit_majority(Z, labels, bmus)
    np.testing.assert_array_equal(names, np.arange(4))
    # Every unit wins objects of one cluster only, and every cluster has units.
    for unit in np.unique(bmus):
        assert len(np.unique(labels[bmus == unit])) == 1, f"unit {unit} mixes clusters"
    assert set(majority[majority >= 0].tolist()) == {0, 1, 2, 3}
    # Each cluster's units form one connected region of the grid (8-neighbourhood).
    for c in range(4):
        _, regions = ndimage.label(majority == c, structure=np.ones((3, 3)))
        assert regions == 1, f"cluster {c} is split into {regions} regions"
    # Quantization: with more units than clusters the map does at least as well as the true centres.
    centres = np.stack([Z[labels == c].mean(axis=0) for c in range(4)])
    to_centres = np.mean(np.linalg.norm(Z - centres[labels], axis=1))
    assert m.quantization_error(Z) < to_centres
    assert m.topographic_error(Z) < 0.1
    # The running criterion Q falls as the map organizes.
    assert m.history[-1, 1] < m.history[0, 1] / 5


def test_u_matrix_ridges_separate_the_clusters():
    X, labels = clusters()
    Z, _, _ = som.standardize(X)
    m = som.train(Z, seed=0)
    majority, _ = m.unit_majority(Z, labels)
    u = m.u_matrix()
    padded = np.pad(majority, 1, constant_values=-2)
    interior = np.zeros_like(majority, dtype=bool)
    for r in range(m.rows):
        for c in range(m.cols):
            neighbours = [padded[r, c + 1], padded[r + 2, c + 1], padded[r + 1, c], padded[r + 1, c + 2]]
            interior[r, c] = majority[r, c] >= 0 and all(n in (majority[r, c], -2) for n in neighbours)
    border = ~interior
    assert interior.sum() >= 4 and border.sum() >= 4
    assert u[border].mean() > 3 * u[interior].mean()


def test_hits_and_unit_means():
    X, labels = clusters(per_cluster=30)
    Z, _, _ = som.standardize(X)
    m = som.train(Z, seed=0)
    hits = m.hits(Z)
    assert hits.shape == (m.rows, m.cols) and hits.sum() == len(Z)
    means = m.unit_mean(Z, labels.astype(float))
    np.testing.assert_array_equal(np.isnan(means), hits == 0)
    majority, _ = m.unit_majority(Z, labels)
    np.testing.assert_array_equal(means[hits > 0], majority[hits > 0])  # pure units: the mean label is the label
    onehot = np.eye(4)[labels]
    shares = m.unit_mean(Z, onehot)
    assert shares.shape == (m.rows, m.cols, 4)
    np.testing.assert_allclose(np.nansum(shares, axis=2)[hits > 0], 1)


# ---- topology: the map unfolds in order


def test_a_line_is_mapped_in_order_along_a_one_row_map():
    t = np.random.default_rng(2).uniform(0, 1, 300)
    X = np.column_stack([t, 0.5 * t])
    m = som.train(X, rows=1, cols=12, seed=0, init="random")
    steps = np.diff(m.weights[0, :, 0])
    assert np.all(steps > 0) or np.all(steps < 0), m.weights[0, :, 0]  # Kohonen's self-ordering
    assert m.topographic_error(X) == 0.0


def test_a_square_is_unfolded_with_grid_axes_along_data_axes():
    X = np.random.default_rng(3).uniform(0, 1, (800, 2))
    m = som.train(X, rows=8, cols=8, seed=1)
    grid = m.grid()
    W = m.flat_weights()
    # Each data axis follows one grid axis (in some order and direction), monotonically.
    rho = np.abs([[spearmanr(W[:, d], grid[:, g])[0] for g in range(2)] for d in range(2)])
    assert max(rho[0, 0] + rho[1, 1], rho[0, 1] + rho[1, 0]) > 1.9, rho
    assert m.topographic_error(X) < 0.1


# ---- the error measures on hand-built maps


def test_quantization_and_topographic_errors_of_a_hand_built_map():
    W = np.array([[[0.0], [1.0], [10.0]]])  # one row: units at 0, 1, 10
    m = som.SelfOrganizingMap(W)
    X = np.array([[0.25], [0.75], [9.0], [5.4]])
    # best units: 0, 1, 2, 1 (distances .25, .25, 1, 4.4)
    np.testing.assert_array_equal(m.bmu(X), [0, 1, 2, 1])
    assert m.quantization_error(X) == pytest.approx((0.25 + 0.25 + 1 + 4.4) / 4)
    # second-best units 1, 0, 1, 2 (5.4 is 4.6 from unit 2): each next to the best one
    assert m.topographic_error(X) == 0.0
    # A folded map: units at 0, 10, 1 -- objects near 0 and 1 have their two best units two cells apart.
    folded = som.SelfOrganizingMap(np.array([[[0.0], [10.0], [1.0]]]))
    assert folded.topographic_error(np.array([[0.4], [0.6], [9.9]])) == pytest.approx(2 / 3)


def test_u_matrix_of_a_hand_built_map():
    W = np.array([[[0.0], [1.0]], [[3.0], [7.0]]])  # 2 x 2
    u = som.SelfOrganizingMap(W).u_matrix()
    # (0,0): neighbours (0,1) at 1 and (1,0) at 3 -> 2; (0,1): 1 and 6 -> 3.5; (1,0): 3 and 4 -> 3.5; (1,1): 6, 4 -> 5
    np.testing.assert_allclose(u, [[2.0, 3.5], [3.5, 5.0]])


def test_map_size_follows_the_data():
    rng = np.random.default_rng(4)
    elongated = rng.normal(0, 1, (400, 3)) * [6, 1.5, 0.1]
    rows, cols = som.map_size(elongated)
    assert rows * cols == pytest.approx(5 * np.sqrt(400), rel=0.15)
    assert cols / rows == pytest.approx(4, rel=0.3)   # the side ratio follows sd1 / sd2 = 4
    assert som.map_size(np.zeros((3, 2))) == (3, 3)


def test_standardize():
    X = np.column_stack([np.arange(5.0), np.full(5, 7.0), 10 * np.arange(5.0)])
    Z, mean, std = som.standardize(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(Z[:, [0, 2]].std(axis=0), 1)
    np.testing.assert_array_equal(Z[:, 1], 0)   # a constant column carries nothing
    np.testing.assert_allclose(Z[:, 0], Z[:, 2])
