"""Class proportions on the probability simplex: plane coordinates for plots (a ternary plot for K = 3)
and the distances seed 000's embedding is judged by.

    xy = simplex.project(P)                  # P [N, K] proportions -> [N, 2] points in the K-gon
    simplex.draw_frame(ax, ["T-shirt", "Trouser", "Sneaker"])   # triangle, 0.2 grid lines, corner labels
    H = simplex.hellinger(P)                 # [N, N] Hellinger distances between label distributions
"""

import numpy as np


def vertices(k):
    """[k, 2] corners of the simplex drawing: for k = 3 the ternary triangle (class 0 bottom left, 1 bottom
    right, 2 on top), for k = 2 a segment, otherwise a regular k-gon (a barycentric projection, exact
    only for k <= 3)."""
    if k == 2:
        return np.array([[0.0, 0.0], [1.0, 0.0]])
    if k == 3:
        return np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    angles = np.pi / 2 + 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def normalize(P):
    """Rows scaled to sum 1 (counts to proportions); rows that sum to 0 stay 0."""
    P = np.asarray(P, dtype=np.float64)
    total = P.sum(axis=-1, keepdims=True)
    return np.divide(P, total, out=np.zeros_like(P), where=total > 0)


def project(P):
    """[N, 2] plane points of proportion rows P [N, K] (normalized first): sum_k p_k * corner_k."""
    P = normalize(np.atleast_2d(P))
    return P @ vertices(P.shape[1])


def shape(P):
    """Seed 000's shape u = sqrt(p): a point on the positive part of the unit sphere."""
    return np.sqrt(normalize(P))


def hellinger(P, Q=None):
    """Hellinger distances H(p, q) = sqrt(1 - sum_k sqrt(p_k q_k)) between the rows of P and of Q (default P):
    [N, M]. The chordal distance between shapes, ||sqrt(p) - sqrt(q)||, is sqrt(2) H."""
    u = shape(P)
    v = u if Q is None else shape(Q)
    return np.sqrt(np.clip(1.0 - u @ v.T, 0.0, 1.0))


def draw_frame(ax, labels, grid=True):
    """The simplex outline on a matplotlib Axes with the classes at the corners; for K = 3, grid lines at
    proportions 0.2, 0.4, 0.6, 0.8 of each class. Sets an equal aspect and hides the axes."""
    k = len(labels)
    v = vertices(k)
    closed = np.vstack([v, v[:1]]) if k > 2 else v
    ax.plot(closed[:, 0], closed[:, 1], color="0.3", lw=1, zorder=1)
    if grid and k == 3:
        for level in (0.2, 0.4, 0.6, 0.8):
            for c in range(3):
                a, b = [i for i in range(3) if i != c]
                # the line p_c = level: from (level at c, rest at a) to (level at c, rest at b)
                start = level * v[c] + (1 - level) * v[a]
                end = level * v[c] + (1 - level) * v[b]
                ax.plot([start[0], end[0]], [start[1], end[1]], color="0.85", lw=0.6, zorder=0)
    centre = v.mean(axis=0)
    for corner, label in zip(v, labels):
        # Labels sit below the lower corners and above the upper ones, centred, so they never leave the axes.
        below = corner[1] <= centre[1]
        ax.text(corner[0], corner[1] + (-0.04 if below else 0.04), str(label), ha="center",
                va="top" if below else "bottom", fontsize=8)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_xlim(v[:, 0].min() - 0.12, v[:, 0].max() + 0.12)
    ax.set_ylim(v[:, 1].min() - 0.14, v[:, 1].max() + 0.12)
