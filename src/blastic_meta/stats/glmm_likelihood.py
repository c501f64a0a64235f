"""Marginal likelihood of the binomial-normal model by adaptive Gauss-Hermite quadrature, with
exact first and second derivatives, and its maximisation by Newton's method.

Study i has ``x_i ~ Binomial(n_i, expit(a_i + tau * u_i))``, ``u_i ~ N(0, 1)`` and linear
predictor ``a_i = x_i' beta``. Its likelihood, an integral over u_i, is approximated as lme4
``glmer(nAGQ = 7)`` does (Pinheiro and Bates, 1995; Liu and Pierce, 1994): the 7 Gauss-Hermite
nodes are centred at the mode ``m_i`` of the integrand and scaled by ``s_i = c_i^(-1/2)``, its
curvature there. The approximation l_i(a_i, tau) is a smooth function of (a_i, tau) through
the nodes, the mode (implicit in tau (x_i - n_i p) - m = 0) and the curvature, and the chain
rule through all three gives its exact gradient and Hessian; so Newton's method converges
quadratically to the maximum of the same function lme4 maximises, to machine precision on the
score, and the standard errors come from its exact observed information.

The likelihood is even in tau (u -> -u), so tau may change sign during the search; tau = 0 is
the fixed-effects logistic regression (Hamza et al., 2008; Stijnen et al., 2010).

References
----------
Pinheiro JC, Bates DM (1995). Approximations to the log-likelihood function in the nonlinear
    mixed-effects model. J Comput Graph Stat 4:12-35.
Liu Q, Pierce DA (1994). A note on Gauss-Hermite quadrature. Biometrika 81:624-9.
Hamza TH, van Houwelingen HC, Stijnen T (2008). The binomial distribution of meta-analysis was
    preferred to model within-study variability. J Clin Epidemiol 61:41-51.
Stijnen T, Hamza TH, Ozdemir P (2010). Random effects meta-analysis of event outcome in the
    framework of the generalized linear mixed model. Stat Med 29:3046-67.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ..errors import ConvergenceError
from ._arrays import FloatArray

N_AGQ = 7  # metafor's default nAGQ
_Z, _W = special.roots_hermite(N_AGQ)  # physicists' rule: integral of exp(-z^2) f(z)
_LOGW = np.log(_W) + _Z**2  # exp(z^2) turns the rule into one for the integral of f(z)
_ZS = math.sqrt(2.0) * _Z  # nodes on the scale of a standard normal
_ZS2 = _ZS * _ZS
_MODE_ITER = 200
_MAX_NEWTON = 100
_ZPOW = np.stack([_ZS**j for j in range(5)], axis=1)  # z^0 .. z^4 at each node
# Indices into the 15 posterior moments E[(1, S, S^2)[i] z^j] (flattened as 5 i + j) of the
# mean of g = (1, z, z^2, S, S z) and of its outer product g g'.
_G_MEAN = np.array([0, 1, 2, 5, 6])
_G_PAIRS = np.array([[0, 1, 2, 5, 6],
                     [1, 2, 3, 6, 7],
                     [2, 3, 4, 7, 8],
                     [5, 6, 7, 10, 11],
                     [6, 7, 8, 11, 12]])
# the pairs (a, a), (a, tau), (tau, tau) of the Hessian rows
_PAIR_I, _PAIR_J = np.array([0, 0, 1]), np.array([0, 1, 1])
_PAIR_FLAT = np.array([0, 1, 3])
_SUM = np.add.reduce
_MAX = np.maximum.reduce


class StudyLikelihood:
    """Adaptive Gauss-Hermite log-likelihood of each study as a function of its linear
    predictor ``a`` and of ``tau``, with exact derivatives.

    The modes of the last call are kept as starting values of the next (the search moves in
    small steps near the optimum).
    """

    def __init__(self, x: FloatArray, n: FloatArray) -> None:
        self.x, self.n = x, n
        self.xc, self.nc = x[:, None], n[:, None]
        # log binomial coefficient and the 1/sqrt(pi) of the rule, per study
        self.const = (special.gammaln(n + 1) - special.gammaln(x + 1)
                      - special.gammaln(n - x + 1) - 0.5 * math.log(math.pi))
        self.mode = np.zeros_like(x)
        #: (a, tau, modes, d modes / d a, d modes / d tau) of the last call with derivatives
        self._last: tuple[FloatArray, float, FloatArray, FloatArray, FloatArray] | None = None

    def modes(self, a: FloatArray, tau: float) -> FloatArray:
        """The mode in u of each integrand: the root of tau (x - n expit(a + tau u)) - u,
        by Newton's method (the integrand is log-concave), safeguarded by bisection."""
        x, n = self.x, self.n
        tt = tau * tau
        u = self._start(a, tau)
        lo = hi = None
        previous = np.full_like(u, np.inf)
        for it in range(_MODE_ITER):
            p = special.expit(a + tau * u)
            grad = tau * (x - n * p) - u
            step = grad / (1.0 + tt * n * p * (1.0 - p))
            new = u + step
            # Newton's error after a step d is of the order of d^2: a step of 1e-8 leaves
            # the mode exact to rounding
            if float(_MAX(np.abs(step))) <= 1e-8 * max(1.0, float(_MAX(np.abs(u)))):
                u = new
                break
            if lo is None or hi is None:  # first miss: bracket the roots
                # the root lies between tau (x - n) and tau x
                lo, hi = (tau * (x - n), tau * x) if tau >= 0 else (tau * x, tau * (x - n))
                if it == 0:  # a start predicted outside the bracket
                    inside = np.minimum(np.maximum(u, lo), hi)
                    if not np.array_equal(inside, u):
                        u = inside
                        continue
            lo = np.where(grad > 0, u, lo)
            hi = np.where(grad < 0, u, hi)
            # Newton steps that land on (or beyond) a bracket end, or do not halve, can cycle
            # between the two ends when the integrand is very flat on one side: bisect there
            # instead (rtsafe; but not where the bracket has closed to rounding)
            size = np.abs(step)
            bad = (new <= lo) | (new >= hi) | (size > 0.5 * previous)
            bad &= hi - lo > 1e-13 * np.maximum(1.0, np.abs(u))
            if bad.any():
                new = np.where(bad, 0.5 * (lo + hi), new)
                size = np.where(bad, 0.5 * (hi - lo), size)
            previous = size
            u = new
        else:
            raise ConvergenceError("pool_glmm: the modes of the quadrature did not converge")
        self.mode = u
        return u

    def _start(self, a: FloatArray, tau: float) -> FloatArray:
        """Starting modes: the last modes moved along their derivatives in (a, tau)."""
        last = self._last
        if last is None:
            return self.mode
        a0, tau0, m0, m_a, m_t = last
        return m0 + m_a * (a - a0) + m_t * (tau - tau0)

    def terms(self, a: FloatArray, tau: float, order: int = 2, *, exact: bool = True
              ) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
        """Per-study log-likelihoods, and for ``order`` >= 1 their gradients in (a, tau)
        (k x 2), for ``order`` 2 their Hessians (k x 3: aa, a-tau, tau-tau); with
        ``exact=False`` the Hessians of Louis' identity at fixed nodes (half the work).

        With nodes u_j = m + s z_j, eta_j = a + tau u_j and the log terms t_j of the rule,
        l = log s + log sum_j exp(t_j) + const is a function G of xi = (a, tau, m, s), and
        m and s are functions of (a, tau): the derivatives are J' dG and J' d2G J + dG d2xi
        (J the Jacobian of xi). The partial derivatives of G are posterior moments over the
        nodes of polynomials in z, S = x - n expit(eta) and Q = n p (1 - p); all of them come
        from one product of the node weights with the powers z^0..z^4.
        """
        m = self.modes(a, tau)
        pm = special.expit(a + tau * m)
        qm = self.n * pm * (1.0 - pm)
        c = 1.0 + tau * tau * qm
        s = 1.0 / np.sqrt(c)
        u = m[:, None] + s[:, None] * _ZS
        eta = a[:, None] + tau * u
        t = self.xc * eta - self.nc * np.logaddexp(0.0, eta) - 0.5 * u * u + _LOGW
        top = t.max(axis=1)
        ex = np.exp(t - top[:, None])
        total = ex.sum(axis=1)
        ll = np.log(total * s) + top + self.const
        if order == 0:
            return ll, None, None
        k = len(ll)
        p = special.expit(eta)
        sc = self.xc - self.nc * p
        nodes = np.empty((4 if order == 2 else 2, k, N_AGQ))
        np.divide(ex, total[:, None], out=nodes[0])
        np.multiply(nodes[0], sc, out=nodes[1])
        if order == 2:
            np.multiply(nodes[1], sc, out=nodes[2])
            np.multiply(nodes[0], self.nc * p * (1.0 - p), out=nodes[3])
        mom = nodes @ _ZPOW  # mom[i, :, j]: posterior mean of (1, S, S^2, Q)[i] * z^j
        z1, z2 = mom[0, :, 1], mom[0, :, 2]
        s0, s1 = mom[1, :, 0], mom[1, :, 1]
        # partial derivatives of G in xi (log s contributes 1/s to the last)
        g_m = tau * s0 - m - s * z1
        g_s = tau * s1 - m * z1 - s * z2 + 1.0 / s
        # the mode and the curvature move with (a, tau): implicit derivatives of the modes
        # (F = tau (x - n p) - m = 0) and of s = c^(-1/2), c = 1 + tau^2 q(a + tau m);
        # rows: d/da, d/dtau
        tq = tau * qm
        dm = np.array((-tq, (self.x - self.n * pm) - tq * m)) / c
        self._last = (a, tau, m, dm[0], dm[1])
        ones = np.ones(k)
        de = np.array((ones, m)) + tau * dm
        tt = tau * tau
        q1 = qm * (1.0 - 2.0 * pm)
        dc = (tt * q1) * de
        dc[1] += 2.0 * tq
        c32 = s / c  # c^(-3/2)
        ds = -0.5 * c32 * dc
        grad = (np.array((s0, m * s0 + s * s1)) + g_m * dm + g_s * ds).T
        if order == 1:
            return ll, grad, None
        if not exact:
            # Louis' (1982) identity with the nodes held fixed: E[d2 t] + Cov(d t) in (a, tau)
            # with d t = (S, S u), d2 t = -(Q, Q u, Q u^2). It differs from the exact Hessian
            # by the movement of the nodes, of the order of the quadrature error.
            q0, qz1, qz2 = mom[3, :, 0], mom[3, :, 1], mom[3, :, 2]
            ss0, ss1, ss2 = mom[2, :, 0], mom[2, :, 1], mom[2, :, 2]
            mq = m * q0 + s * qz1
            su = m * s0 + s * s1
            hess = np.empty((k, 3))
            hess[:, 0] = ss0 - s0 * s0 - q0
            hess[:, 1] = m * ss0 + s * ss1 - s0 * su - mq
            hess[:, 2] = (m * (m * ss0 + 2.0 * s * ss1) + s * s * ss2 - su * su
                          - (m * mq + s * (m * qz1 + s * qz2)))
            return ll, grad, hess
        # Hessians as rows (aa, a tau, tau tau); i, j pick the two factors of each pair
        i, j = _PAIR_I, _PAIR_J
        dmi, dmj, dsi, dsj = dm.take(i, 0), dm.take(j, 0), ds.take(i, 0), ds.take(j, 0)
        # (1) Cov of the node derivatives: d t / d xi is linear in g = (1, z, z^2, S, S z)
        # (u = m + s z), so J' Cov(d t / d xi) J = K Cov(g) K' with K = J' L
        flat = mom[:3].transpose(1, 0, 2).reshape(k, 15)
        mean_g = flat.take(_G_MEAN, 1)
        cov_g = flat.take(_G_PAIRS, 1) - mean_g[:, :, None] * mean_g[:, None, :]
        kk = np.array((-m * dm, -(s * dm + m * ds), -s * ds, np.array((ones, m)) + tau * dm,
                       np.array((np.zeros(k), s)) + tau * ds)).transpose(2, 1, 0)
        h = (kk @ cov_g @ kk.transpose(0, 2, 1)).reshape(k, 4).take(_PAIR_FLAT, 1).T
        # (2) J' E[d2 t / d xi2] J, the second partials of t being polynomials in z, S, Q
        q0, qz1, qz2 = mom[3, :, 0], mom[3, :, 1], mom[3, :, 2]
        mq = m * q0 + s * qz1
        mqz = m * qz1 + s * qz2
        e_xx = np.array((-q0, -mq, -(m * mq + s * mqz)))
        e_xm = np.array((-tau * q0, s0 - tau * mq))
        e_xs = np.array((-tau * qz1, s1 - tau * mqz))
        e_mm = -tt * q0 - 1.0
        e_ms = -tt * qz1 - z1
        e_ss = -tt * qz2 - z2 - 1.0 / (s * s)
        h += (e_xx + dmj * e_xm.take(i, 0) + dsj * e_xs.take(i, 0) + dmi * e_xm.take(j, 0)
              + dsi * e_xs.take(j, 0)
              + e_mm * dmi * dmj + e_ms * (dmi * dsj + dsi * dmj) + e_ss * dsi * dsj)
        # (3) the second derivatives of the mode and of s, times dG/dm and dG/ds
        tq1 = tau * q1
        f_xx = np.array((-tq1, -qm - tq1 * m, -(2.0 * qm + tq1 * m) * m))
        f_xm = np.array((-tau * tq1, -tau * (2.0 * qm + tq1 * m)))
        d2m = (f_xx + f_xm.take(i, 0) * dmj + f_xm.take(j, 0) * dmi - tt * tq1 * dmi * dmj) / c
        d2e = tau * d2m + np.array((np.zeros(k), dm[0], 2.0 * dm[1]))
        dei, dej = de.take(i, 0), de.take(j, 0)
        q2 = qm * (1.0 - 6.0 * pm + 6.0 * pm * pm)
        d2c = tt * (q2 * dei * dej + q1 * d2e)
        d2c[1] += 2.0 * tq1 * de[0]
        d2c[2] += 2.0 * qm + 4.0 * tq1 * de[1]
        d2s = (0.75 * c32 / c) * dc.take(i, 0) * dc.take(j, 0) - 0.5 * c32 * d2c
        h += g_m * d2m + g_s * d2s
        return ll, grad, h.T


class GlmmLikelihood:
    """Log-likelihood of (beta, tau), theta = (beta_1..beta_p, tau), summed over studies in
    the order given (callers sort the studies, so that the sums do not depend on the input
    order)."""

    def __init__(self, x: FloatArray, n: FloatArray, X: FloatArray) -> None:
        self.study = StudyLikelihood(x, n)
        self.X = X
        self.p = X.shape[1]
        self.evaluations = 0

    def evaluate(self, theta: FloatArray, order: int = 2, *, exact: bool = True
                 ) -> tuple[float, FloatArray | None, FloatArray | None]:
        """Log-likelihood, gradient (p + 1) and Hessian ((p + 1) x (p + 1)) at ``theta``
        (``exact=False``: Louis' Hessian at fixed nodes, see ``StudyLikelihood.terms``)."""
        self.evaluations += 1
        X, p = self.X, self.p
        a = np.full(len(X), theta[0]) if p == 1 else X @ theta[:p]
        ll, g, h = self.study.terms(a, float(theta[p]), order, exact=exact)
        total = float(_SUM(ll))
        if order == 0 or g is None:
            return total, None, None
        if p == 1:
            gs = _SUM(g, 0)
            if order == 1 or h is None:
                return total, gs, None
            hs = _SUM(h, 0)
            return total, gs, np.array([[hs[0], hs[1]], [hs[1], hs[2]]])
        grad = np.empty(p + 1)
        grad[:p] = g[:, 0] @ X
        grad[p] = float(_SUM(g[:, 1]))
        if order == 1 or h is None:
            return total, grad, None
        hess = np.empty((p + 1, p + 1))
        hess[:p, :p] = X.T @ (h[:, 0, None] * X)
        hess[:p, p] = hess[p, :p] = h[:, 1] @ X
        hess[p, p] = float(_SUM(h[:, 2]))
        return total, grad, hess


def solve_spd(a: FloatArray, b: FloatArray) -> FloatArray | None:
    """Solve a x = b for a small symmetric positive definite ``a`` by a Cholesky factorisation
    written out in Python (numpy's linalg costs more in call overhead than the arithmetic at
    these sizes); None when ``a`` is not positive definite."""
    d = len(b)
    rows = a.tolist()
    chol = [[0.0] * d for _ in range(d)]
    for i in range(d):
        for j in range(i + 1):
            acc = rows[i][j] - sum(chol[i][r] * chol[j][r] for r in range(j))
            if i == j:
                if not acc > 0.0:  # also catches NaN
                    return None
                chol[i][i] = math.sqrt(acc)
            else:
                chol[i][j] = acc / chol[j][j]
    y = [0.0] * d
    for i in range(d):
        y[i] = (float(b[i]) - sum(chol[i][r] * y[r] for r in range(i))) / chol[i][i]
    out = [0.0] * d
    for i in reversed(range(d)):
        out[i] = (y[i] - sum(chol[r][i] * out[r] for r in range(i + 1, d))) / chol[i][i]
    return np.array(out)


def inverse_spd(a: FloatArray) -> FloatArray | None:
    """Inverse of a small symmetric positive definite matrix (None if it is not one)."""
    eye = np.eye(len(a))
    cols = [solve_spd(a, eye[j]) for j in range(len(a))]
    if any(c is None for c in cols):
        return None
    inv = np.column_stack(cols)
    return 0.5 * (inv + inv.T)


def _newton_step(hess: FloatArray, grad: FloatArray) -> FloatArray:
    """Newton step for a maximum, made an ascent direction by a ridge where the Hessian is not
    negative definite."""
    ridge = 0.0
    scale = max(1.0, float(np.abs(hess).max()))
    for _ in range(60):
        a = -hess if ridge == 0.0 else ridge * np.eye(len(grad)) - hess
        step = solve_spd(a, grad)
        if step is not None:
            return step
        ridge = max(2.0 * ridge, 1e-3 * scale)
    raise ConvergenceError("pool_glmm: the Hessian of the log-likelihood is not finite")


def maximise(lik: GlmmLikelihood, theta: FloatArray
             ) -> tuple[FloatArray, float, FloatArray, FloatArray, int]:
    """Newton's method with step halving, from ``theta``, to machine precision: once a step
    is below 1e-7 (relative) it is taken and the search stops, the error left being of the
    order of the square of that step. Far from the optimum (steps above 3e-3) the directions
    use Louis' Hessian at fixed nodes, which differs from the exact one by the order of the
    quadrature error and costs half as much; the last steps, and the Hessian returned (for
    the standard errors), are exact.

    Near the optimum of a very flat likelihood (tau^2 of 50 and more next to 0- or all-event
    studies) the log-likelihood is flat to rounding: steps that do not lower it by more than
    rounding are accepted, and the search stops when the steps stop shrinking.

    Returns (theta, loglik, gradient, exact Hessian, iterations).
    """
    exact = False
    ll, grad, hess = lik.evaluate(theta, exact=exact)
    assert grad is not None and hess is not None
    tiny = 16.0 * np.finfo(float).eps * max(1.0, abs(ll))
    previous, stalls = math.inf, 0
    for it in range(1, _MAX_NEWTON + 1):
        step = _newton_step(hess, grad)
        size = float(_MAX(np.abs(step) / np.maximum(1.0, np.abs(theta))))
        if exact and size < 1e-7:
            # Newton converges quadratically: after this step the error is of the order of
            # size^2 (< 1e-14), machine precision; the log-likelihood moves by grad.step
            # (second order) and the Hessian by O(size), both below what matters
            return theta + step, ll + float(grad @ step), grad, hess, it
        # exact Hessians from the next point on when close to the optimum, or when Louis'
        # directions converge slowly (large tau^2, where the quadrature is coarse)
        exact = exact or size < 3e-3 or size > 0.3 * previous or it > 4
        t = 1.0
        while True:
            cand = theta + t * step
            new_ll, new_grad, new_hess = lik.evaluate(cand, exact=exact)
            if math.isfinite(new_ll) and new_ll >= ll - tiny:
                break
            t *= 0.5
            if t < 1e-10:
                if exact and size < 1e-5:  # rounding of ll: no direction that raises it
                    return theta, ll, grad, hess, it
                if not exact:  # Louis' directions fail: exact ones
                    exact = True
                    new_ll, new_grad, new_hess = lik.evaluate(theta)
                    cand = theta
                    break
                raise ConvergenceError(
                    f"pool_glmm: no convergence of the maximum-likelihood fit (tau = "
                    f"{theta[-1]:g}); the moderators may separate studies with 0 or all events")
        assert new_grad is not None and new_hess is not None
        theta, ll, grad, hess = cand, new_ll, new_grad, new_hess
        # exact steps that no longer shrink, at the level of rounding noise: the optimum
        stalls = stalls + 1 if exact and size < 1e-5 and size > 0.5 * previous else 0
        if stalls >= 3:
            return theta, ll, grad, hess, it
        previous = size
    raise ConvergenceError(f"pool_glmm: no convergence of the maximum-likelihood fit after "
                           f"{_MAX_NEWTON} Newton steps (tau = {theta[-1]:g}); the moderators "
                           "may separate studies with 0 or all events")


def fit_logistic(x: FloatArray, n: FloatArray, X: FloatArray, beta: FloatArray
                 ) -> tuple[FloatArray, float, FloatArray]:
    """Fixed-effects logistic regression of x out of n on X by Newton's method (iteratively
    reweighted least squares), from ``beta``: (beta, binomial log-likelihood, information
    X'diag(n p (1 - p))X). Without moderators the estimate is the pooled logit. Converges to
    machine precision; with separation the coefficients diverge and the search stops when the
    log-likelihood stops changing (its limit)."""
    const = float(_SUM(special.gammaln(n + 1) - special.gammaln(x + 1)
                       - special.gammaln(n - x + 1)))

    def loglik(b: FloatArray) -> float:
        eta = X @ b
        return float(_SUM(x * eta - n * np.logaddexp(0.0, eta))) + const

    if X.shape[1] == 1:  # closed form: the logit of the pooled proportion
        events = float(_SUM(x))
        beta = np.array([math.log(events) - math.log(float(_SUM(n)) - events)])
    else:
        ll = loglik(beta)
        tiny = 16.0 * np.finfo(float).eps
        for _ in range(_MAX_NEWTON):
            p = special.expit(X @ beta)
            info = X.T @ ((n * p * (1.0 - p))[:, None] * X)
            step = solve_spd(info, X.T @ (x - n * p))
            if step is None:  # separation: the information has become singular
                break
            t = 1.0
            while True:
                new_ll = loglik(beta + t * step)
                if new_ll >= ll - tiny * max(1.0, abs(ll)) or t < 1e-10:
                    break
                t *= 0.5
            beta = beta + t * step
            change, ll = new_ll - ll, new_ll
            if float(np.max(np.abs(t * step) / np.maximum(1.0, np.abs(beta)))) < 1e-8 \
                    or abs(change) <= 1e-15 * max(1.0, abs(ll)):
                break
    p = special.expit(X @ beta)
    info = X.T @ ((n * p * (1.0 - p))[:, None] * X)
    return beta, loglik(beta), info
