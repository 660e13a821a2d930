"""A Kohonen self-organizing map (seed 003) with numpy alone.

Seed 003's algorithm ("Обучение карты Кохонена"): units w_mh on an M x H rectangular grid, initialized
at random in (-1/(2MH), 1/(2MH)); repeat: take a random object x_i, find its winner
(m_i, h_i) = argmin_(m,h) ||x_i - w_mh|| (hard competition, WTA), then move every unit of the winner's
neighbourhood towards x_i (soft competition, WTM):

    w_mh += eta * (x_i - w_mh) * K(r((m_i, h_i), (m, h))),   r the Euclidean distance on the grid,

and follow the running estimate Q := (1 - lambda) Q + lambda ||x_i - w_winner||^2 of the quantization
criterion. Here K(r) = exp(-r^2 / 2 sigma^2) cut to the neighbourhood r <= 3 sigma, and both the
neighbourhood width sigma and the step eta shrink geometrically over the steps (wide at first, so the map
unfolds as a whole; narrow at the end, so it settles like competitive learning). batch_size > 1 applies
each winner's pull from a minibatch of objects at once (vectorized), averaged per unit.

    from genzoo_analysis import som
    m = som.train(X, seed=0)                         # X [N, D], standardized beforehand (som.standardize)
    m.quantization_error(X), m.topographic_error(X)  # mean ||x - w_bmu||; share with 1st/2nd BMUs not adjacent
    m.u_matrix()                                     # [rows, cols] mean distance to the 4 grid neighbours
    m.unit_mean(X, values)                           # [rows, cols] a per-object value averaged per unit
"""

from dataclasses import dataclass, field

import numpy as np


def standardize(X):
    """Columns to zero mean and unit variance (constant columns to zero): the SOM's Euclidean metric then
    weighs every feature alike. Returns (Z, mean, std)."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std = np.where(std > 1e-12 * np.maximum(1.0, np.abs(mean)), std, np.inf)
    return (X - mean) / std, mean, std


def map_size(X, units=None):
    """(rows, cols) for data X: about 5 sqrt(N) units (Vesanto's rule), the side ratio following the
    ratio of the two largest principal standard deviations, at least 3 x 3."""
    X = np.asarray(X, dtype=np.float64)
    units = units if units is not None else max(9, int(round(5 * np.sqrt(len(X)))))
    ratio = 1.0
    if len(X) > 2 and X.shape[1] > 1:
        s = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
        if len(s) > 1 and s[1] > 0:
            ratio = float(np.clip(s[0] / s[1], 1.0, 4.0))
    rows = max(3, int(round(np.sqrt(units / ratio))))
    cols = max(3, int(round(units / rows)))
    return rows, cols


def _grid(rows, cols):
    """[rows*cols, 2] grid coordinates (m, h) of the flat unit index m*cols + h."""
    m, h = np.divmod(np.arange(rows * cols), cols)
    return np.stack([m, h], axis=1).astype(np.float64)


def _squared_distances(X, W):
    """||x_i - w_j||^2 [N, U], clipped at 0 against rounding."""
    d = (X * X).sum(axis=1)[:, None] - 2.0 * X @ W.T + (W * W).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


@dataclass
class SelfOrganizingMap:
    """A trained map: weights [rows, cols, D]; history: (step, Q) pairs of the running criterion."""

    weights: np.ndarray
    history: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    settings: dict = field(default_factory=dict)

    @property
    def rows(self):
        return self.weights.shape[0]

    @property
    def cols(self):
        return self.weights.shape[1]

    @property
    def units(self):
        return self.rows * self.cols

    def flat_weights(self):
        return self.weights.reshape(self.units, -1)

    def grid(self):
        """[U, 2] grid coordinates of the flat unit indices."""
        return _grid(self.rows, self.cols)

    def best_units(self, X, count=1):
        """Flat indices [N, count] of the count nearest units of each object (best first)."""
        d = _squared_distances(np.asarray(X, dtype=np.float64), self.flat_weights())
        if count == 1:
            return np.argmin(d, axis=1)[:, None]
        part = np.argpartition(d, count - 1, axis=1)[:, :count]
        order = np.argsort(np.take_along_axis(d, part, axis=1), axis=1)
        return np.take_along_axis(part, order, axis=1)

    def bmu(self, X):
        """Flat index [N] of each object's best-matching unit (the WTA winner)."""
        return self.best_units(X, 1)[:, 0]

    def bmu_coordinates(self, X):
        """(row, col) [N, 2] of each object's best-matching unit."""
        return np.stack(np.divmod(self.bmu(X), self.cols), axis=1)

    def quantization_error(self, X):
        """Mean Euclidean distance of the objects to their best-matching units (data replaced by units)."""
        X = np.asarray(X, dtype=np.float64)
        return float(np.mean(np.linalg.norm(X - self.flat_weights()[self.bmu(X)], axis=1)))

    def topographic_error(self, X, adjacent=1.0):
        """Share of objects whose best and second-best units are not neighbours on the grid (grid distance
        above `adjacent`: 1 = the 4-neighbourhood, sqrt(2) = the 8-neighbourhood). 0 for a map whose
        neighbouring units are neighbours in the data; it rises where the map folds."""
        best = self.best_units(X, 2)
        grid = self.grid()
        r = np.linalg.norm(grid[best[:, 0]] - grid[best[:, 1]], axis=1)
        return float(np.mean(r > adjacent + 1e-9))

    def u_matrix(self):
        """[rows, cols] mean Euclidean distance of each unit's weights to its 4 grid neighbours' (Ultsch's
        U-matrix): high ridges separate clusters, low valleys are clusters."""
        W = self.weights
        total = np.zeros((self.rows, self.cols))
        count = np.zeros((self.rows, self.cols))
        down = np.linalg.norm(W[1:] - W[:-1], axis=2)
        right = np.linalg.norm(W[:, 1:] - W[:, :-1], axis=2)
        total[1:] += down
        total[:-1] += down
        count[1:] += 1
        count[:-1] += 1
        total[:, 1:] += right
        total[:, :-1] += right
        count[:, 1:] += 1
        count[:, :-1] += 1
        return total / np.maximum(count, 1)

    def hits(self, X):
        """[rows, cols] number of objects whose best-matching unit each unit is."""
        return np.bincount(self.bmu(X), minlength=self.units).reshape(self.rows, self.cols)

    def unit_mean(self, X, values, bmus=None):
        """[rows, cols] (or [rows, cols, C] for values [N, C]) mean of a per-object value over the objects
        each unit wins; NaN where a unit wins none."""
        bmus = self.bmu(X) if bmus is None else bmus
        values = np.asarray(values, dtype=np.float64)
        flat = values.reshape(len(values), -1)
        hits = np.bincount(bmus, minlength=self.units).astype(np.float64)
        sums = np.stack([np.bincount(bmus, weights=flat[:, c], minlength=self.units) for c in range(flat.shape[1])],
                        axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / hits[:, None]
        means[hits == 0] = np.nan
        return means.reshape((self.rows, self.cols) + values.shape[1:])

    def unit_majority(self, X, labels, bmus=None):
        """[rows, cols] index into np.unique(labels) of the most frequent label among each unit's objects
        (-1 where a unit wins none), and that np.unique array."""
        bmus = self.bmu(X) if bmus is None else bmus
        names, codes = np.unique(np.asarray(labels), return_inverse=True)
        counts = np.zeros((self.units, len(names)), dtype=np.int64)
        np.add.at(counts, (bmus, codes), 1)
        majority = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1)
        return majority.reshape(self.rows, self.cols), names


def train(X, rows=None, cols=None, epochs=20, steps=None, eta=(0.5, 0.01), sigma=(None, 0.5), batch_size=1,
          init="random", forgetting=None, seed=0):
    """Train a map on X [N, D] by seed 003's SG algorithm with soft competition and a shrinking neighbourhood.

    rows, cols: the grid (default map_size(X)); steps: object presentations (default epochs * N, at least
    100 per unit; objects in random order, a fresh permutation per pass); eta = (first, last) step size and
    sigma = (first, last) neighbourhood width in grid units (first default: half the longer side), both
    decaying geometrically; batch_size: objects per update (1 = the seed's SG); init: "random" (the seed's
    uniform (-1/(2MH), 1/(2MH)), for standardized data), "pca" (a plane spanned by the two leading
    principal axes) or an array [rows, cols, D] of initial weights; forgetting: lambda of the running criterion Q (default 1 / N). Deterministic for a
    given seed.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"som.train needs a non-empty [N, D] matrix, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("som.train: X has NaN or Inf entries")
    n, dim = X.shape
    if isinstance(init, np.ndarray):
        if init.ndim != 3 or init.shape[2] != dim:
            raise ValueError(f"som.train: initial weights of shape {init.shape}, need [rows, cols, {dim}]")
        rows, cols = init.shape[:2]
    elif rows is None or cols is None:
        rows, cols = map_size(X)
    units = rows * cols
    rng = np.random.default_rng(seed)
    grid = _grid(rows, cols)
    grid_sq = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)  # [U, U] squared grid distances r^2

    if isinstance(init, np.ndarray):
        W = init.reshape(units, dim).astype(np.float64, copy=True)
        init = "given"
    elif init == "random":
        W = rng.uniform(-1.0 / (2 * units), 1.0 / (2 * units), size=(units, dim))
    elif init == "pca":
        mean = X.mean(axis=0)
        _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
        axes = np.zeros((2, dim))
        spread = np.zeros(2)
        k = min(2, len(s))
        axes[:k], spread[:k] = vt[:k], s[:k] / np.sqrt(max(n - 1, 1))
        a = np.linspace(-1, 1, rows)[grid[:, 0].astype(int)] if rows > 1 else np.zeros(units)
        b = np.linspace(-1, 1, cols)[grid[:, 1].astype(int)] if cols > 1 else np.zeros(units)
        W = mean + 2 * (a[:, None] * spread[0] * axes[0] + b[:, None] * spread[1] * axes[1])
    else:
        raise ValueError(f"som.train: init {init!r} is not one of random, pca")

    steps = int(steps if steps is not None else max(epochs * n, 100 * units))
    batch_size = max(1, min(int(batch_size), n))
    updates = max(1, -(-steps // batch_size))
    eta0, eta1 = eta
    sigma0 = sigma[0] if sigma[0] is not None else max(rows, cols) / 2.0
    sigma1 = min(sigma[1], sigma0)
    lam = forgetting if forgetting is not None else 1.0 / n
    fraction = np.arange(updates) / max(updates - 1, 1)
    etas = eta0 * (eta1 / eta0) ** fraction
    sigmas = sigma0 * (sigma1 / sigma0) ** fraction

    order = np.concatenate([rng.permutation(n) for _ in range(-(-updates * batch_size // n))])
    Q = float(np.mean(_squared_distances(X, W).min(axis=1)))
    record_every = max(1, updates // 500)
    history = [(0, Q)]
    for t in range(updates):
        idx = order[t * batch_size:(t + 1) * batch_size]
        x = X[idx]
        d = _squared_distances(x, W)                      # [B, U]
        winners = np.argmin(d, axis=1)                    # WTA: each object's nearest unit
        r2 = grid_sq[winners]                             # [B, U] grid distances from the winners
        h = np.exp(-r2 / (2.0 * sigmas[t] ** 2))          # WTM kernel K(r)
        h[r2 > 9.0 * sigmas[t] ** 2] = 0.0                # the neighbourhood: r <= 3 sigma
        if batch_size == 1:
            W += etas[t] * h[0][:, None] * (x[0] - W)
        else:
            pull = h.sum(axis=0)
            W += etas[t] * (h.T @ x - pull[:, None] * W) / np.maximum(pull, 1.0)[:, None]
        Q = (1.0 - lam) ** len(idx) * Q + (1.0 - (1.0 - lam) ** len(idx)) * float(np.mean(d[np.arange(len(idx)), winners]))
        if (t + 1) % record_every == 0 or t + 1 == updates:
            history.append(((t + 1) * batch_size, Q))

    settings = {"rows": rows, "cols": cols, "steps": updates * batch_size, "batch_size": batch_size, "eta": (eta0, eta1),
                "sigma": (sigma0, sigma1), "init": init, "forgetting": lam, "seed": seed}
    return SelfOrganizingMap(W.reshape(rows, cols, dim), np.array(history), settings)
