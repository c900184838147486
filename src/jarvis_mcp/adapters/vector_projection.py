"""A first pass in fewer dimensions that still gives the exact top k (used by vector_cache.UserMatrix).

A user's 512-dim vectors mostly live in a smaller subspace. With B the top principal directions of a sample
of the user's rows (orthonormal, `DIMS` of them), every row x and query q split into a part in B and a
residual orthogonal to it, so

    q·x = (Bq)·(Bx) + q_r·x_r  <=  (Bq)·(Bx) + |q_r| |x_r|        (Cauchy-Schwarz)

The scan reads the DIMS-dim rows (37.5% of the bytes of a full scan), rescoring the best few hundred in
full gives a score t that the exact k-th best reaches at least, and every row whose bound reaches t is then
scored in full: no row of the exact top k can be missed. How many rows that is depends on how much of the
users' vectors the subspace holds; a matrix whose sample keeps less than MIN_ENERGY gets no projection, and
a query whose bound leaves too many rows falls back to the full scan. Results equal the full scan's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DIMS = 192
MIN_ENERGY = 0.90  # share of the sample's squared norm the subspace must hold to be worth keeping
SAMPLE = 10_000
EPS = 1e-4  # float32 rounding of the bound's parts, with room to spare
TRIAL = 8


class Projection:
    def __init__(self, basis: np.ndarray) -> None:
        self.basis = np.ascontiguousarray(basis, np.float32)  # (DIMS, dim), orthonormal rows
        self.low = np.empty((0, len(basis)), np.float32)
        self.resid = np.empty(0, np.float32)
        self.n = 0
        self.tries = self.misses = 0  # searches, and those it could not prune (they paid for both passes)

    @property
    def useful(self) -> bool:
        """False once a quarter of the searches, after the first TRIAL, fell back to the full scan: the
        user's vectors passed MIN_ENERGY but spread too much for the bound (synthetic vectors did)."""
        return self.tries < TRIAL or self.misses * 4 < self.tries

    @classmethod
    def build(cls, vecs: np.ndarray, dims: int | None = None) -> Projection | None:
        """From a sample of `vecs`; None when the subspace would not hold MIN_ENERGY of them."""
        dims = DIMS if dims is None else dims
        if vecs.shape[1] <= dims:
            return None
        rng = np.random.default_rng(0)
        sample = vecs if len(vecs) <= SAMPLE else vecs[np.sort(rng.choice(len(vecs), SAMPLE, replace=False))]
        sample = sample.astype(np.float64)
        w, v = np.linalg.eigh(sample.T @ sample)
        order = np.argsort(w)[::-1][:dims]
        if w[order].sum() < MIN_ENERGY * w.sum():
            return None
        out = cls(v[:, order].T)
        out.extend(vecs)
        return out

    @property
    def nbytes(self) -> int:
        return self.low.nbytes + self.resid.nbytes + self.basis.nbytes

    def extend(self, vecs: np.ndarray) -> None:
        need = self.n + len(vecs)
        if need > len(self.low):
            cap = max(need, int(len(self.low) * 1.5) + 64)
            low = np.empty((cap, self.low.shape[1]), np.float32)
            low[: self.n] = self.low[: self.n]
            resid = np.empty(cap, np.float32)
            resid[: self.n] = self.resid[: self.n]
            self.low, self.resid = low, resid
        part = vecs @ self.basis.T
        self.low[self.n : need] = part
        left = np.einsum("ij,ij->i", vecs, vecs) - np.einsum("ij,ij->i", part, part)
        self.resid[self.n : need] = np.sqrt(np.maximum(left, 0.0))
        self.n = need

    def candidates(self, vecs: np.ndarray, query: np.ndarray, rows: np.ndarray | None, k: int,
                   scan: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray | None:
        """Row numbers (into vecs[:n]) that hold the exact top k of `rows` (None: all rows [:n]), or None
        when the bound prunes too little to beat a full scan. `scan(matrix, vector)` is the matvec."""
        n = len(vecs)
        qp = self.basis @ query
        qr = float(np.sqrt(max(float(query @ query) - float(qp @ qp), 0.0)))
        low = scan(self.low[:n], qp)
        bound = low + (qr * self.resid[:n] + EPS)
        if rows is not None:
            low, bound = low[rows], bound[rows]
        size = low.size
        first = min(size, max(4 * k, 256))
        best = np.argpartition(low, size - first)[size - first :] if first < size else np.arange(size)
        exact = vecs[best if rows is None else rows[best]] @ query
        floor = np.partition(exact, exact.size - k)[exact.size - k] if k < exact.size else exact.min()
        keep = np.flatnonzero(bound >= floor)
        self.tries += 1
        if keep.size > size // 16:  # gathering scattered rows costs ~3x reading them in order
            self.misses += 1
            return None
        return keep if rows is None else rows[keep]
