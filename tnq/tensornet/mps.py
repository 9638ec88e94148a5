"""Canonical matrix product states: the engine's core primitive.

Tensors have shape ``(left_bond, physical, right_bond)``. The orthogonality centre ``center`` is
tracked: every tensor left of it is left-orthonormal, every tensor right of it right-orthonormal,
so local quantities (norms, expectations, conditional probabilities) need only local contractions.
Used by the circuit simulator, the Born machine and (through ``decompose``) MPO compression.

The tensors are numpy arrays or torch tensors (on any device); every method works in their array namespace
(``tnq.arrays``), so one code path serves both. Results that are small decisions (keep counts, samples' symbols)
are taken on the host.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..arrays import NUMPY, NumpyArrays, host, namespace_of
from ..errors import SimulationError
from .batch import normalise_rows, step_right
from .decompose import check_truncation, keep_count, pivot, plan_truncation, svd, truncate_fixed

EXACT_PRODUCT = 1e-24
"""``exact_product`` accepts a factorisation whose residual weight is at most this (relative): rounding only."""


def exact_product(vector: np.ndarray, dims: Sequence[int], cutoff: float) -> list[np.ndarray] | None:
    """Unnormalised factors u_i with vector = u_0 x u_1 x ... when ``vector`` (big-endian over ``dims``) is a
    product to rounding (residual weight <= min(``cutoff``, ``EXACT_PRODUCT``)), read off the slices through its
    largest entry without an SVD; None otherwise. Basis states and their phases, the outputs of permutation gates
    on them, are exact products."""
    values = host(vector)  # a few entries: decided on the host
    weight = np.abs(values) ** 2
    top = pivot(weight)
    at = np.unravel_index(top, tuple(dims))
    slices = [at[:i] + (slice(None),) + at[i + 1:] for i in range(len(dims))]
    rebuilt = kron_vectors([values.reshape(tuple(dims))[where] for where in slices])
    rebuilt = rebuilt / values[top] ** (len(dims) - 1)  # each slice holds the pivot entry once
    residual = float(np.sum(np.abs(values - rebuilt) ** 2))
    if residual > min(cutoff, EXACT_PRODUCT) * float(weight.sum()):
        return None
    tensor = vector.reshape(tuple(dims))
    factors = [tensor[where] for where in slices]
    factors[0] = factors[0] / vector[top] ** (len(dims) - 1)  # so that vector = u_0 x u_1 x ... exactly
    return factors


def kron_vectors(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The Kronecker product of 1-d arrays (numpy or torch), the first most significant."""
    out = vectors[0]
    for v in vectors[1:]:
        out = (out[:, None] * v[None, :]).reshape(-1)
    return out


class MPS:
    """A matrix product state with a tracked orthogonality centre and truncation bookkeeping."""

    def __init__(self, tensors: Sequence[np.ndarray], center: int | None = None) -> None:
        if not tensors:
            raise SimulationError("an MPS needs at least one site")
        xp = namespace_of(tensors[0])
        self.tensors = [xp.asarray(t) for t in tensors]
        for k, t in enumerate(self.tensors):
            if t.ndim != 3:
                raise SimulationError(f"MPS site {k}: tensor must have 3 axes (left, phys, right), got {t.shape}")
        for k in range(len(self.tensors) - 1):
            if self.tensors[k].shape[2] != self.tensors[k + 1].shape[0]:
                raise SimulationError(f"MPS bond {k}-{k + 1}: dimensions {self.tensors[k].shape[2]} and "
                                      f"{self.tensors[k + 1].shape[0]} do not match")
        self.center: int | None = center  # None: no canonical form known yet
        self.discarded: list[float] = []  # relative discarded weight of each truncating split

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def product_state(cls, n: int, local_states: Sequence[np.ndarray] | None = None, d: int = 2,
                      arrays: NumpyArrays = NUMPY) -> MPS:
        """|0...0> (or the given normalised local vectors): every tensor is both left- and right-orthonormal.
        ``arrays`` (``tnq.arrays.namespace``): the array library, device and complex dtype of the tensors."""
        if local_states is None:
            vec = np.zeros(d, dtype=np.complex128)
            vec[0] = 1.0
            local_states = [vec] * n
        tensors = []
        for v in local_states:
            v = np.asarray(v, dtype=np.complex128)
            tensors.append(arrays.cast((v / np.linalg.norm(v)).reshape(1, -1, 1)))
        return cls(tensors, center=0)

    @classmethod
    def random(cls, n: int, d: int, bond: int, seed: int | None = None, dtype: Any = np.complex128,
               positive: bool = False) -> MPS:
        """A random normalised MPS (used by tests and as a Born-machine initialisation). Entries are Gaussian, or
        with ``positive`` uniform in [0, 1) and real, so that no amplitude starts at (or near) zero."""
        rng = np.random.default_rng(seed)
        dims = [1] + [min(bond, d**k, d ** (n - k)) for k in range(1, n)] + [1]
        tensors = []
        for k in range(n):
            shape = (dims[k], d, dims[k + 1])
            if positive:
                tensors.append(rng.random(shape).astype(dtype))
                continue
            t = rng.normal(size=shape)
            if np.iscomplexobj(np.empty(0, dtype)):
                t = t + 1j * rng.normal(size=shape)
            tensors.append(t.astype(dtype))
        mps = cls(tensors)
        mps.canonicalize(0)
        mps.normalize()
        return mps

    @property
    def xp(self) -> NumpyArrays:
        """The array namespace of the tensors (numpy, or torch on a device)."""
        return namespace_of(self.tensors[0])

    def copy(self) -> MPS:
        xp = self.xp
        new = MPS([xp.copy(t) for t in self.tensors], self.center)
        new.discarded = list(self.discarded)
        return new

    # --- shape facts --------------------------------------------------------------------------
    @property
    def num_sites(self) -> int:
        return len(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    @property
    def bond_dims(self) -> list[int]:
        """Dimensions of the n-1 internal bonds, left to right."""
        return [t.shape[2] for t in self.tensors[:-1]]

    @property
    def max_bond(self) -> int:
        return max(self.bond_dims, default=1)

    @property
    def fidelity_estimate(self) -> float:
        """Product of (1 - discarded weight) over all truncations: an estimate of |<exact|mps>|^2."""
        return float(np.prod([1.0 - w for w in self.discarded])) if self.discarded else 1.0

    # --- canonical form ----------------------------------------------------------------------
    def canonicalize(self, site: int = 0) -> None:
        """Bring an MPS of unknown gauge into canonical form with centre ``site``."""
        self.center = 0
        for k in range(self.num_sites - 1):
            self._shift_right(k)
        self.center = self.num_sites - 1
        self.move_center(site)

    def move_center(self, site: int) -> None:
        """Move the orthogonality centre to ``site`` by QR decompositions (the state is unchanged)."""
        if self.center is None:
            self.canonicalize(site)
            return
        while self.center < site:
            self._shift_right(self.center)
            self.center += 1
        while self.center > site:
            self._shift_left(self.center)
            self.center -= 1

    def _shift_right(self, k: int) -> None:
        t = self.tensors[k]
        left, d, right = t.shape
        if right == 1 and self._shift_norm(k, k + 1):  # a one-column QR is a normalisation
            return
        q, r = self.xp.qr(t.reshape(left * d, right))
        self.tensors[k] = q.reshape(left, d, q.shape[1])
        nxt = self.tensors[k + 1]
        self.tensors[k + 1] = (r @ nxt.reshape(nxt.shape[0], -1)).reshape(r.shape[0], *nxt.shape[1:])

    def _shift_left(self, k: int) -> None:
        t = self.tensors[k]
        left, d, right = t.shape
        if left == 1 and self._shift_norm(k, k - 1):
            return
        q, r = self.xp.qr(t.reshape(left, d * right).T)
        self.tensors[k] = q.T.reshape(q.shape[1], d, right)
        prev = self.tensors[k - 1]
        self.tensors[k - 1] = (prev.reshape(-1, prev.shape[2]) @ r.T).reshape(*prev.shape[:2], r.shape[0])

    def _shift_norm(self, k: int, to: int) -> bool:
        """Move the centre from ``k`` to its neighbour ``to`` across a bond of dimension 1: the tensor at ``k``
        is normalised and its norm multiplies ``to`` (what a QR of one column does, without LAPACK). False
        (nothing done) for a zero tensor."""
        norm = float(self.xp.norm(self.tensors[k]))
        if norm == 0.0:
            return False
        self.tensors[k] = self.tensors[k] / norm
        self.tensors[to] = self.tensors[to] * norm
        return True

    def norm(self) -> float:
        xp = self.xp
        if self.center is not None:
            return float(xp.norm(self.tensors[self.center]))
        env = xp.ones((1, 1), dtype=self.tensors[0].real.dtype)
        for t in self.tensors:
            env = xp.einsum("ab,apc,bpd->cd", env, t.conj(), t, optimize=True)
        return math.sqrt(abs(complex(env[0, 0])))

    def normalize(self) -> float:
        """Scale to unit norm (on the centre tensor); returns the old norm."""
        nrm = self.norm()
        if nrm == 0:
            raise SimulationError("cannot normalise an MPS of zero norm")
        k = self.center if self.center is not None else 0
        self.tensors[k] = self.tensors[k] / nrm
        return nrm

    # --- local updates -----------------------------------------------------------------------
    def apply_one(self, site: int, matrix: np.ndarray) -> None:
        """Apply a single-site operator (unitaries keep the canonical form)."""
        self.tensors[site] = self.xp.asarray(matrix) @ self.tensors[site]

    def apply_gate(self, start: int, matrix: np.ndarray, max_bond: int | None = None,
                   cutoff: float = 0.0, absorb: str = "auto", value_cutoff: float = 0.0) -> float:
        """Apply a k-site operator to sites ``start .. start+k-1`` (matrix big-endian in site order)
        by contracting the block, applying the matrix and splitting with truncated SVDs (truncation options as in
        ``decompose.keep_count``). Returns the relative discarded weight of this gate; the state stays normalised."""
        d = self.tensors[start].shape[1]
        k = int(round(np.log(matrix.shape[0]) / np.log(d)))
        if k == 1:
            self.apply_one(start, matrix)
            return 0.0
        stop = start + k - 1
        if absorb == "auto":
            absorb = "left" if self.center is not None and self.center > stop else "right"
        self.move_center(min(max(self.center if self.center is not None else start, start), stop))
        block = self.tensors[start]
        for site in range(start + 1, stop + 1):
            t = self.tensors[site]
            block = block.reshape(-1, t.shape[0]) @ t.reshape(t.shape[0], -1)
        left, right = self.tensors[start].shape[0], self.tensors[stop].shape[2]
        block = self.xp.asarray(matrix) @ block.reshape(left, d**k, right)
        return self.split_block(start, block.reshape((left,) + (d,) * k + (right,)),
                                max_bond, cutoff, absorb, value_cutoff)

    def apply_to_product(self, sites: Sequence[int], matrix: np.ndarray, cutoff: float = 0.0) -> bool:
        """Apply a k-site operator (big-endian in the order of ``sites``, which may be anywhere and in any order)
        when each of those sites is unentangled from the rest (bonds of dimension 1 on both sides) and the result
        is again a product of single sites (a rank-1 split at every cut, up to ``cutoff`` discarded weight, which
        is recorded and the kept product rescaled to the result's norm): no routing and no block SVD, as in
        basis-state arithmetic. Each new site vector gets the phase that makes its largest entry real positive (ties
        to the lowest index), the overall scalar goes to the centre. Returns False, with nothing changed, when the
        sites or the result are not such a product."""
        if self.center is None or any(self.tensors[k].shape[0] != 1 or self.tensors[k].shape[2] != 1
                                      for k in sites):
            return False
        xp = self.xp
        vectors = [self.tensors[k].reshape(-1) for k in sites]
        rest = (xp.asarray(matrix) @ kron_vectors(vectors)).reshape(1, -1)
        total = float(xp.norm(rest))  # kept whole: a truncated split is rescaled to it, as truncate_fixed does
        if total == 0.0:
            return False
        factors = exact_product(rest.reshape(-1), [len(v) for v in vectors], cutoff)
        weights: list[float] = []
        if factors is None:  # not a product to rounding: truncated SVDs decide, within the cutoff
            factors = []
            for v in vectors[:-1]:
                u, values, vh = svd(rest.reshape(len(v), -1))
                keep, weight = keep_count(host(values), None, cutoff)
                if keep > 1:
                    return False
                factors.append(u[:, 0])
                weights.append(weight)
                rest = values[0] * vh[0]
            factors.append(rest)
        scale = total
        for k, f in zip(sites, factors):
            size = np.abs(host(f))
            top = pivot(size)
            phase = f[top] / abs(f[top])
            self.tensors[k] = (f / (phase * float(np.linalg.norm(size)))).reshape(1, -1, 1)
            scale = scale * phase
        self.tensors[self.center] = self.tensors[self.center] * scale
        self.discarded.extend(w for w in weights if w > 0.0)
        return True

    def split_block(self, start: int, block: np.ndarray, max_bond: int | None, cutoff: float,
                    absorb: str = "right", value_cutoff: float = 0.0) -> float:
        """Write a normalised block tensor ``(left, d_1..d_k, right)`` back as k sites by truncated SVDs
        (``decompose.keep_count``: at most ``max_bond`` values, discarded weight <= ``cutoff``, values >=
        ``value_cutoff * s_max``); the centre ends at the rightmost (``absorb='right'``) or leftmost site.
        The orthonormal cores are gauge-fixed (``decompose.truncate_fixed``): given the basis of the outer bond on
        their side they depend on the block alone (not on the basis of the other side, nor on LAPACK's rounding),
        which also fixes which vectors a truncation keeps from a cluster of equal singular values."""
        check_truncation(max_bond, cutoff, value_cutoff)
        k = block.ndim - 2
        if absorb == "left":  # mirror the block, split left-to-right, mirror back
            xp = self.xp
            mirrored = xp.transpose(block, tuple(range(block.ndim))[::-1])
            cores, weight = self._split_left_to_right(mirrored, max_bond, cutoff, value_cutoff)
            self.tensors[start:start + k] = [xp.transpose(c, (2, 1, 0)) for c in cores[::-1]]
            self.center = start
        else:
            cores, weight = self._split_left_to_right(block, max_bond, cutoff, value_cutoff)
            self.tensors[start:start + k] = cores
            self.center = start + k - 1
        return weight

    def _split_left_to_right(self, block: np.ndarray, max_bond: int | None, cutoff: float,
                             value_cutoff: float) -> tuple[list[np.ndarray], float]:
        dims = block.shape[1:-1]
        rest = block.reshape(block.shape[0], -1)
        cores, kept = [], 1.0
        for d in dims[:-1]:
            left = rest.shape[0]
            u, s, vh = svd(rest.reshape(left * d, -1))
            values = host(s)
            plan = plan_truncation(values, max_bond, cutoff, value_cutoff)
            u, s, vh, weight = truncate_fixed(u, s, vh, values, plan)  # the same cores whatever the CPU
            keep = plan.keep
            if keep < len(values):
                self.discarded.append(weight)
                kept *= 1.0 - weight
            cores.append(u.reshape(left, d, keep))
            rest = s[:, None] * vh
        cores.append(rest.reshape(rest.shape[0], dims[-1], block.shape[-1]))
        return cores, 1.0 - kept

    def swap_sites(self, site: int, max_bond: int | None = None, cutoff: float = 0.0, absorb: str = "auto") -> float:
        """Exchange the physical legs of ``site`` and ``site+1`` (routing for non-adjacent gates); the centre ends
        on the ``absorb`` side ('auto': the side it was on), so a chain of swaps walking left should say 'left'."""
        self.move_center(min(max(self.center if self.center is not None else site, site), site + 1))
        if absorb == "auto":
            absorb = "left" if self.center == site else "right"
        xp = self.xp
        a, b = self.tensors[site], self.tensors[site + 1]
        if a.shape[0] == a.shape[2] == b.shape[2] == 1 and self._exchange_product(site, absorb):
            return 0.0
        block = xp.tensordot(a, b, axes=(2, 0))
        return self.split_block(site, xp.transpose(block, (0, 2, 1, 3)), max_bond, cutoff, absorb)

    def _exchange_product(self, site: int, absorb: str) -> bool:
        """Swap two sites that are a product with each other and with the rest (all three bonds 1) by exchanging
        their tensors, exactly and without an SVD (basis-state arithmetic routes thousands of such swaps); the norm
        the centre carried moves to the ``absorb`` side. False (nothing done) for a zero centre."""
        center = self.center  # site or site + 1 (swap_sites moved it there)
        target = site if absorb == "left" else site + 1
        moved = 2 * site + 1 - center  # where the centre's tensor lands
        self.tensors[site], self.tensors[site + 1] = self.tensors[site + 1], self.tensors[site]
        if moved != target and not self._shift_norm(moved, target):
            self.tensors[site], self.tensors[site + 1] = self.tensors[site + 1], self.tensors[site]
            return False
        self.center = target
        return True

    # --- queries -------------------------------------------------------------------------------
    def _check_bits(self, bits: Any) -> np.ndarray:
        """Rows of symbols as an integer array (m, n), each entry in [0, d) of its site; one clear error if not."""
        bits = np.asarray(bits)
        if bits.ndim != 2 or bits.shape[1] != self.num_sites:
            raise SimulationError(f"bits must have shape (m, {self.num_sites}), got {bits.shape}")
        if bits.size and not (np.issubdtype(bits.dtype, np.integer) or bits.dtype == bool):
            raise SimulationError(f"bits must be integers, got dtype {bits.dtype}")
        if bits.size:
            dims = np.array([t.shape[1] for t in self.tensors])
            bad = np.argwhere((bits < 0) | (bits >= dims))
            if len(bad):
                row, site = bad[0]
                raise SimulationError(f"bits[{row}, {site}] = {bits[row, site]} is not a symbol of site {site} "
                                      f"(physical dimension {dims[site]})")
        return bits.astype(np.intp, copy=False)

    def amplitudes(self, bits: Any) -> np.ndarray:
        """<b|psi> (complex) for each row of ``bits`` (shape (m, n), ints in [0, d)): one product per site over
        all samples (``batch.step_right``). Underflows to 0 on long chains; see ``log_amplitudes``."""
        xp = self.xp
        bits = xp.index(self._check_bits(bits))
        env = xp.ones((bits.shape[0], 1), dtype=xp.complex_of(self.tensors[0]))
        for k, t in enumerate(self.tensors):
            env = step_right(env, t, bits[:, k])
        return env[:, 0]

    def log_amplitudes(self, bits: Any) -> tuple[np.ndarray, np.ndarray]:
        """(ln|<b|psi>|, phase) for each row of ``bits``, with <b|psi> = exp(log_abs) * phase. The running
        environment is rescaled to unit norm at every site, so chains of any length neither under- nor overflow.
        The phase is a unit complex number for a complex MPS and the sign (+-1) for a real one; a zero amplitude
        gives (-inf, 0)."""
        xp = self.xp
        bits = xp.index(self._check_bits(bits))
        env = xp.ones((bits.shape[0], 1), dtype=xp.result_type(*self.tensors))
        log_abs = np.zeros(bits.shape[0])
        with np.errstate(divide="ignore"):
            for k, t in enumerate(self.tensors):
                env, norms = normalise_rows(step_right(env, t, bits[:, k]))
                log_abs += np.log(host(norms))
        return log_abs, env[:, 0]

    def expectation_local(self, operators: dict[int, np.ndarray]) -> complex:
        """<psi| prod_k O_k |psi> / <psi|psi> for single-site operators on the given sites."""
        if not operators:
            return complex(1.0)
        sites = sorted(operators)
        lo, hi = sites[0], sites[-1]
        self.move_center(min(max(self.center if self.center is not None else lo, lo), hi))
        xp = self.xp
        env = None
        for k in range(lo, hi + 1):
            t = self.tensors[k]
            bra = t if k not in operators else xp.asarray(operators[k]) @ t
            if env is None:
                env = xp.tensordot(t.conj(), bra, axes=([0, 1], [0, 1]))
            else:
                env = xp.tensordot(xp.tensordot(env, t.conj(), axes=(0, 0)), bra, axes=([0, 1], [0, 1]))
        norm2 = self.norm() ** 2
        return complex(np.trace(host(env))) / norm2

    def project(self, fixed: Mapping[int, int]) -> MPS:
        """The unnormalised state <x_fixed|psi> as an MPS over the remaining sites (in order), canonicalised:
        each fixed site's tensor is sliced at its value and multiplied into the nearest free neighbour. Its squared
        norm is <psi|P_fixed|psi>, i.e. the probability of the fixed values when this MPS is normalised; sampling
        it draws the free sites from p(x_free | x_fixed). ``fixed`` maps sites in [0, n) to symbols."""
        fixed = self._check_fixed(fixed)
        if len(fixed) == self.num_sites:
            raise SimulationError("project: every site is fixed, so no site is left; use amplitudes() for the value")
        free: list[np.ndarray] = []
        pending = None  # product of the fixed slices since the last free site, (left, right)
        for k, t in enumerate(self.tensors):
            if k in fixed:
                piece = t[:, fixed[k], :]
                pending = piece if pending is None else pending @ piece
            elif pending is not None:
                free.append(self.xp.tensordot(pending, t, axes=(1, 0)))
                pending = None
            else:
                free.append(t)
        if pending is not None:  # trailing fixed sites go into the last free tensor
            free[-1] = self.xp.tensordot(free[-1], pending, axes=(2, 0))
        projected = MPS(free)
        projected.canonicalize(0)
        return projected

    def _check_fixed(self, fixed: Mapping[int, int]) -> dict[int, int]:
        """Validate a {site: symbol} mapping with one clear error."""
        if not isinstance(fixed, Mapping):
            raise SimulationError(f"fixed must be a mapping {{site: symbol}}, got {type(fixed).__name__}")
        out = {}
        for site, value in fixed.items():
            if isinstance(site, bool) or not isinstance(site, (int, np.integer)) or not 0 <= site < self.num_sites:
                raise SimulationError(f"fixed: site {site!r} is not an integer in [0, {self.num_sites})")
            d = self.tensors[int(site)].shape[1]
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < d:
                raise SimulationError(f"fixed: value {value!r} at site {site} is not an integer in [0, {d})")
            out[int(site)] = int(value)
        return out

    def sample(self, shots: int, rng: np.random.Generator | int | None = None,
               fixed: Mapping[int, int] | None = None) -> np.ndarray:
        """Exact samples from |psi|^2, all shots at once, site by site (shape (shots, n), uint8). With ``fixed``
        ({site: symbol}) those columns hold the given symbols and the others are drawn from p(x_free | x_fixed),
        by sampling ``project(fixed)``; a condition of zero probability raises SimulationError.
        The state is unchanged, but without ``fixed`` the orthogonality centre is moved to site 0 (a gauge change:
        the tensors are rewritten)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if fixed:
            return self._sample_fixed(shots, rng, self._check_fixed(fixed))
        self.move_center(0)
        xp = self.xp
        out = xp.zeros((shots, self.num_sites), dtype=xp.uint8)
        env = xp.ones((shots, 1), dtype=xp.complex_of(self.tensors[0]))
        rows = xp.arange(shots)
        uniforms = xp.real(rng.random((self.num_sites, shots)))
        for k, t in enumerate(self.tensors):
            left, d, right = t.shape
            amp = (env @ t.reshape(left, d * right)).reshape(shots, d, right)
            prob = (amp.real * amp.real + amp.imag * amp.imag).sum(axis=2)
            u = uniforms[k] * prob.sum(axis=1)
            if d == 2:
                choice = xp.to_int(u >= prob[:, 0])
            else:
                choice = xp.clamp_max((xp.cumsum(prob, axis=1) <= u[:, None]).sum(axis=1), d - 1)
            out[:, k] = choice
            env = amp[rows, choice] / xp.sqrt(xp.clamp_min(prob[rows, choice], xp.tiny))[:, None]
        return host(out)

    def _sample_fixed(self, shots: int, rng: np.random.Generator, fixed: dict[int, int]) -> np.ndarray:
        sites = sorted(fixed)
        values = np.array([fixed[k] for k in sites])
        projected = self.project(fixed) if len(fixed) < self.num_sites else None  # None: no free site left
        weight = projected.norm() if projected is not None else abs(complex(self.amplitudes(values[None])[0]))
        if not weight > 1e-150 * self.norm():  # relative probability below 1e-300: treat as impossible
            raise SimulationError(f"sample: the fixed values {fixed} have zero probability")
        out = np.empty((shots, self.num_sites), dtype=np.uint8)
        if projected is not None:
            projected.normalize()  # sampling does not depend on the norm; unit norm keeps it far from underflow
            out[:, [k for k in range(self.num_sites) if k not in fixed]] = projected.sample(shots, rng)
        out[:, sites] = values
        return out

    def to_dense(self) -> np.ndarray:
        """The full state vector (site 0 most significant); only for small n."""
        if self.num_sites > 26:
            raise SimulationError(f"refusing to build a dense vector of {self.num_sites} sites")
        psi = self.tensors[0]
        for t in self.tensors[1:]:
            psi = self.xp.tensordot(psi, t, axes=(psi.ndim - 1, 0))
        return psi.reshape(-1)

    def overlap(self, other: MPS) -> complex:
        """<self|other>."""
        xp = self.xp
        env = xp.ones((1, 1))
        for a, b in zip(self.tensors, other.tensors):
            env = xp.einsum("ab,apc,bpd->cd", env, a.conj(), xp.asarray(b), optimize=True)
        return complex(env[0, 0])

    # --- interop ---------------------------------------------------------------------------------
    def to_quimb(self) -> Any:
        """A quimb ``MatrixProductState`` with the same tensors (site k -> quimb site k)."""
        import quimb.tensor as qtn

        arrays = [t for t in self.tensors]
        arrays[0] = arrays[0][0]                 # (phys, right)
        arrays[-1] = arrays[-1][..., 0]          # (left, phys)
        if self.num_sites == 1:
            return qtn.MatrixProductState([self.tensors[0][0, :, 0]], shape="p")
        return qtn.MatrixProductState(arrays, shape="lpr")

    @classmethod
    def from_quimb(cls, mps: Any) -> MPS:
        """Build from a quimb ``MatrixProductState`` (any gauge; canonicalised here)."""
        n = mps.L
        tensors = []
        for k in range(n):
            t = mps[k]
            phys = mps.site_ind(k)
            left = [mps.bond(k - 1, k)] if k > 0 else []
            right = [mps.bond(k, k + 1)] if k < n - 1 else []
            data = t.transpose(*(left + [phys] + right)).data
            if k == 0:
                data = data[None]
            if k == n - 1:
                data = data[..., None]
            tensors.append(np.asarray(data))
        new = cls(tensors)
        new.canonicalize(0)
        return new
