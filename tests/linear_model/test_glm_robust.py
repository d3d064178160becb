"""OrthogonalGLM on problems nobody tuned for: units, offsets, counts, ranks.

One table of problems x both solvers x families. Every case checks

- the two solvers give the same predictions;
- the constraint ``S̃ᵀ W μ = 0`` holds to 1e-8 (relative to the sizes of
  ``S̃`` and ``μ``);
- agreement with an independent reference: scipy's SLSQP on the constrained
  problem, written out here on unit-scale data, or statsmodels' GLM where the
  constraint is inactive by construction.

Rescaled problems are compared with the reference of the unit-scale problem,
mapped through the rescaling (predictions of ``1e4 y`` are ``1e4`` times those
of ``y``), so the reference itself never sees the awkward units.
"""

import contextlib
import signal
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.optimize
import statsmodels.api as sm
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from orthokit._linalg import CollinearityWarning
from orthokit.evaluation import check_estimator_orthogonality
from orthokit.linear_model import OrthogonalGLM, SeparationWarning

SOLVERS = ["newton", "mdmm"]
FAMILIES = ["gaussian", "binomial", "poisson"]
MEAN = {"gaussian": lambda eta: eta, "binomial": expit, "poisson": np.exp}
CUMULANT = {
    "gaussian": lambda eta: 0.5 * eta**2,
    "binomial": lambda eta: np.logaddexp(0.0, eta),
    "poisson": np.exp,
}
SM_FAMILY = {
    "gaussian": sm.families.Gaussian,
    "binomial": sm.families.Binomial,
    "poisson": sm.families.Poisson,
}


def simulate(family, n=300, p=3, seed=0, binary_protected=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    if binary_protected:
        s = (x[:, :1] + rng.normal(size=(n, 1)) > 0).astype(float)
    else:
        s = 0.6 * x[:, :2] + 0.8 * rng.normal(size=(n, 2))
    eta = 0.4 * x.sum(axis=1) + 0.4 * s.sum(axis=1)
    if family == "binomial":
        y = rng.binomial(1, expit(eta)).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.5 * eta)).astype(float)
    else:
        y = eta + rng.normal(size=n)
    return x, s, y


def slsqp_predictions(family, x, s, y):
    """Constrained maximum likelihood by SLSQP, on standardized ``x``."""
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    design = np.column_stack([np.ones(len(y)), z])
    s_centred = s - s.mean(axis=0)
    s_centred = s_centred / s_centred.std(axis=0)
    mean, cumulant = MEAN[family], CUMULANT[family]

    def loss(beta):
        eta = design @ beta
        return np.mean(cumulant(eta) - y * eta), design.T @ (mean(eta) - y) / len(y)

    start = np.zeros(design.shape[1])
    start[0] = {"gaussian": y.mean(), "binomial": 0.0, "poisson": np.log(y.mean())}[
        family
    ]
    result = scipy.optimize.minimize(
        loss,
        start,
        jac=True,
        method="SLSQP",
        constraints=[
            {"type": "eq", "fun": lambda b: s_centred.T @ mean(design @ b) / len(y)}
        ],
        options={"ftol": 1e-15, "maxiter": 2000},
    )
    assert result.success, result.message
    return mean(design @ result.x)


def relative_violation(s, mu, weights=None):
    weights = np.ones(len(mu)) if weights is None else weights
    w = weights / weights.sum()
    mu = mu / np.abs(mu).max()  # the measure is scale-free; keep mu² normal
    s_centred = s - w @ s
    s_centred -= w @ s_centred  # second pass: s may be 1e12 + {0, 1}
    sizes = np.sqrt(w @ s_centred**2) * np.sqrt(w @ mu**2)
    return np.max(np.abs(s_centred.T @ (w * mu)) / sizes)


def predict(glm, X, family):
    return glm.predict_proba(X)[:, 1] if family == "binomial" else glm.predict(X)


def fit_both(family, X, y, protected, **params):
    fitted = {}
    for solver in SOLVERS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            glm = OrthogonalGLM(protected, family=family, solver=solver, **params)
            fitted[solver] = glm.fit(X, y)
    return fitted


def check(family, X, y, s, protected, expected, rtol=2e-6):
    fitted = fit_both(family, X, y, protected)
    newton = predict(fitted["newton"], X, family)
    mdmm = predict(fitted["mdmm"], X, family)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(newton, mdmm, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(newton, expected, rtol=0, atol=10 * rtol * scale)
    assert relative_violation(s, newton) < 1e-8
    assert relative_violation(s, mdmm) < 1e-8
    return fitted


# Rescalings of a unit-scale problem: (X, S, y) -> new data, and how the
# reference predictions change.
RESCALINGS = {
    "x*1e-4": (lambda x, s, y: (x * 1e-4, s, y), lambda mu: mu),
    "x*1e4": (lambda x, s, y: (x * 1e4, s, y), lambda mu: mu),
    "s*1e4": (lambda x, s, y: (x, s * 1e4, y), lambda mu: mu),
    "x+1e12": (lambda x, s, y: (x + 1e12, s, y), lambda mu: mu),
    # an offset of 1e15 leaves x eight rounding steps per unit: not constant
    "x+1e15": (lambda x, s, y: (x + 1e15, s, y), lambda mu: mu),
    "y*1e-4": (lambda x, s, y: (x, s, y * 1e-4), lambda mu: mu * 1e-4),
    "y*1e4": (lambda x, s, y: (x, s, y * 1e4), lambda mu: mu * 1e4),
    # subnormal features need a subnormal target too: the slopes stay ~1
    "y,x*1e-310": (lambda x, s, y: (x * 1e-310, s, y * 1e-310), lambda mu: mu * 1e-310),
}
Y_SCALABLE = {"gaussian", "poisson"}


@pytest.mark.parametrize(
    "family, rescaling",
    [
        (family, rescaling)
        for family in FAMILIES
        for rescaling in RESCALINGS
        if family in Y_SCALABLE or not rescaling.startswith("y")  # 0/1 has no units
        # a log link turns y*1e-310 into an intercept shift, x*1e-310 into slopes
        # of 1e310: not representable
        if not (family == "poisson" and rescaling == "y,x*1e-310")
    ],
)
def test_units_do_not_matter(family, rescaling):
    transform, map_mean = RESCALINGS[rescaling]
    x, s, y = simulate(family, seed=1)
    if rescaling.startswith("x+"):
        # The offset rounds x (to 1.2e-4 for 1e12, 0.125 for 1e15); the
        # reference sees the rounded data.
        offset = float(rescaling[2:])
        x = (x + offset) - offset
    expected = map_mean(slsqp_predictions(family, x, s, y))
    x_new, s_new, y_new = transform(x, s, y)
    X = np.column_stack([x_new, s_new])
    check(family, X, y_new, s_new, [3, 4], expected)


@pytest.mark.parametrize("offset", [1e12, 1e15])
@pytest.mark.parametrize("family", FAMILIES)
def test_protected_indicator_with_a_huge_offset(family, offset):
    # 1e15: the indicator spans 8 rounding steps of its offset, not constant
    x, s, y = simulate(family, seed=2, binary_protected=True)
    expected = slsqp_predictions(family, x, s, y)
    s_offset = offset + s  # exact: the offset and offset + 1 are both floats
    check(family, np.column_stack([x, s_offset]), y, s_offset, [3], expected)


def test_gaussian_target_with_a_huge_offset():
    x, s, y = simulate("gaussian", seed=3)
    expected = slsqp_predictions("gaussian", x, s, y) + 1e6
    check("gaussian", np.column_stack([x, s]), y + 1e6, s, [3, 4], expected)


def test_large_poisson_counts_of_star98():
    data = sm.datasets.star98.load_pandas().data
    y = data["NABOVE"].to_numpy(dtype=float)  # counts up to 9,324
    features = data.drop(columns=["NABOVE", "NBELOW"]).to_numpy(dtype=float)
    x, s = features[:, :-2], features[:, -2:]
    expected = slsqp_predictions("poisson", x, s / s.std(axis=0), y / y.mean())
    check("poisson", features, y, s, [18, 19], expected * y.mean())


@pytest.mark.parametrize("family", FAMILIES)
def test_inactive_constraint_matches_statsmodels(family):
    # Every row appears once with s = 0 and once with s = 1, so any model in x
    # alone satisfies the constraint and the answer is the unconstrained GLM.
    x, _, y = simulate(family, n=150, seed=4)
    x, y = np.vstack([x, x]), np.concatenate([y, y[::-1]])
    s = np.repeat([0.0, 1.0], 150)[:, None]
    reference = sm.GLM(y, sm.add_constant(x), family=SM_FAMILY[family]()).fit()
    fitted = check(family, np.column_stack([x, s]), y, s, [3], reference.fittedvalues)
    for glm in fitted.values():
        np.testing.assert_allclose(glm.coef_.ravel(), reference.params[1:], rtol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_problem_is_intercept_only(family):
    # Three rows, the predictor a function of the protected column: only the
    # constant model is feasible, and it is the weighted mean of y.
    s = np.array([[0.0], [1.0], [2.0]])
    X = np.column_stack([3 * s[:, 0] - 1, s])
    y = np.array([0.0, 1.0, 1.0])
    for solver in SOLVERS:
        with pytest.warns(UserWarning, match="constant"):
            glm = OrthogonalGLM([1], family=family, solver=solver).fit(X, y)
        np.testing.assert_allclose(predict(glm, X, family), 2 / 3, rtol=1e-12)
        assert glm.coef_.ravel()[0] == 0.0


def one_hot_design(family, n=600, seed=5):
    """Full one-hot coding (rank deficient with the intercept), no pure level."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, size=n)
    b = rng.integers(0, 3, size=n)
    sex = (rng.random(n) < 0.3 + 0.1 * a).astype(float)
    eta = 0.3 * a - 0.4 * b + 0.5 * sex
    y = {
        "binomial": lambda: rng.binomial(1, expit(eta)),
        "poisson": lambda: rng.poisson(np.exp(eta)),
        "gaussian": lambda: eta + rng.normal(size=n),
    }[family]().astype(float)
    frame = pd.get_dummies(
        pd.DataFrame({"a": a.astype(str), "b": b.astype(str)}), dtype=float
    )
    return frame.to_numpy(), sex, y


@pytest.mark.parametrize("family", FAMILIES)
def test_rank_deficient_one_hot_design(family):
    features, sex, y = one_hot_design(family)
    X = np.column_stack([features, sex])
    with pytest.warns(UserWarning, match="collinear"):
        newton = OrthogonalGLM([7], family=family, solver="newton").fit(X, y)
    with pytest.warns(UserWarning, match="collinear"):
        mdmm = OrthogonalGLM([7], family=family, solver="mdmm").fit(X, y)
    # The reference drops one level of each factor (a full-rank design).
    keep = [1, 2, 3, 5, 6]
    expected = slsqp_predictions(family, features[:, keep], sex[:, None], y)
    p_newton, p_mdmm = predict(newton, X, family), predict(mdmm, X, family)
    np.testing.assert_allclose(p_newton, expected, atol=2e-5 * expected.max())
    np.testing.assert_allclose(p_newton, p_mdmm, atol=2e-6 * expected.max())
    assert relative_violation(sex[:, None], p_newton) < 1e-8
    # newton reaches the optimum: its likelihood is no worse than mdmm's.
    if family != "gaussian":
        link = {"binomial": lambda m: np.log(m / (1 - m)), "poisson": np.log}[family]
        loss_newton = np.mean(CUMULANT[family](link(p_newton)) - y * link(p_newton))
        loss_mdmm = np.mean(CUMULANT[family](link(p_mdmm)) - y * link(p_mdmm))
        assert loss_newton <= loss_mdmm + 1e-8 * abs(loss_mdmm)


@pytest.mark.parametrize("solver", SOLVERS)
def test_quasi_separation_warns_and_names_the_level(solver):
    features, sex, y = one_hot_design("binomial", seed=6)
    # Every row of level b=0 (column f4, independent of sex) has y = 0. (A pure
    # level of a, which sex depends on, can keep a finite constrained maximum.)
    y[features[:, 4] == 1] = 0.0
    X = pd.DataFrame(features, columns=[f"f{j}" for j in range(7)]).assign(sex=sex)
    with pytest.warns(SeparationWarning, match=r"f4=1 .*all class 0.*alpha=1e-4"):
        OrthogonalGLM(["sex"], solver=solver).fit(X, y)
    # The advised ridge gives a finite maximum, the same for both solvers.
    fitted = {
        solver: OrthogonalGLM(["sex"], solver=solver, alpha=1e-4).fit(X, y)
        for solver in SOLVERS
    }
    np.testing.assert_allclose(
        fitted["newton"].predict_proba(X), fitted["mdmm"].predict_proba(X), atol=1e-6
    )


def limit_slsqp(design, s_centred, y, standardize=True):
    """SLSQP on the limit of a quasi-separated logistic problem.

    The rows of the pure levels are left out of ``design`` and ``y`` (they are
    fitted exactly, ``μ = 0``) and of ``s_centred`` (one constraint per
    column), which is centred over all rows. ``standardize`` puts the
    predictors and constraints on unit scale first: SLSQP's steps are not
    scale free.
    """
    s_centred = s_centred.reshape(len(y), -1)
    if standardize:
        x = design[:, 1:]
        design = np.column_stack([design[:, 0], (x - x.mean(axis=0)) / x.std(axis=0)])
        s_centred = s_centred / s_centred.std(axis=0)

    def loss(beta):
        eta = design @ beta
        value = np.mean(np.logaddexp(0.0, eta) - y * eta)
        return value, design.T @ (expit(eta) - y) / len(y)

    def constraint_jacobian(beta):
        mu = expit(design @ beta)
        return (s_centred * (mu * (1 - mu))[:, None]).T @ design / len(y)

    result = scipy.optimize.minimize(
        loss,
        np.zeros(design.shape[1]),
        jac=True,
        method="SLSQP",
        constraints=[{
            "type": "eq",
            "fun": lambda b: s_centred.T @ expit(design @ b) / len(y),
            "jac": constraint_jacobian,
        }],
        options={"ftol": 1e-15, "maxiter": 2000},
    )  # fmt: skip
    assert result.success, result.message
    return expit(design @ result.x)


# Iterations each solver needs on the quasi-separated problem below: newton
# took 1000 (its iteration limit) before it stopped along the pure level.
SEPARATED_ITERATIONS = {"newton": 12, "mdmm": 100}


@pytest.mark.parametrize("solver", SOLVERS)
def test_quasi_separation_stops_at_the_limit_problem(solver):
    features, sex, y = one_hot_design("binomial", seed=6)
    y[features[:, 4] == 1] = 0.0
    X = pd.DataFrame(features, columns=[f"f{j}" for j in range(7)]).assign(sex=sex)
    with pytest.warns(SeparationWarning, match=r"f4=1 "):
        glm = OrthogonalGLM(["sex"], solver=solver).fit(X, y)
    assert glm.n_iter_ <= SEPARATED_ITERATIONS[solver]
    rest = features[:, 4] == 0
    # On the other rows b takes two levels: one dummy of b, three of a.
    design = np.column_stack([np.ones(rest.sum()), features[rest][:, [1, 2, 3, 5]]])
    expected = limit_slsqp(design, (sex - sex.mean())[rest], y[rest], standardize=False)
    p = glm.predict_proba(X)[:, 1]
    np.testing.assert_allclose(p[rest], expected, rtol=0, atol=1e-7)
    assert p[~rest].max() < 1e-10
    assert glm.constraint_violation_ < 1e-12


@contextlib.contextmanager
def hang_guard(seconds=300):
    """Fail instead of hanging (a guard against a hang, not a timing test)."""

    def fail(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def nearly_collinear(family, gap, n=300, seed=7):
    """``x1``, ``x2 = x1 + gap · noise`` and ``x3``; ``s`` depends on ``x1``."""
    rng = np.random.default_rng(seed)
    x1, x3 = rng.normal(size=(2, n))
    x2 = x1 + gap * rng.normal(size=n)
    s = (0.5 * x1 + rng.normal(size=n))[:, None]
    eta = 0.5 * x1 + 0.5 * x3 + 0.3 * s[:, 0]
    y = {
        "binomial": lambda: eta + rng.logistic(size=n) > 0,
        "poisson": lambda: rng.poisson(np.exp(eta)),
        "gaussian": lambda: eta + rng.normal(size=n),
    }[family]().astype(float)
    return np.column_stack([x1, x2, x3]), s, y


# (gap between x1 and x2, whether the rank drops below 3, the reference's
# predictors): a gap of 3e-5 keeps the rank (eigenvalue ratio 4.5e-10 > 1e-10)
# and its reference sees the same span as [x1, x2 - x1, x3], well conditioned;
# at 1e-10 the direction x1 - x2 is rounding and the minimum-norm answer is the
# fit on [x1, x3].
NEARLY_COLLINEAR = {
    "gap 3e-5": (
        3e-5,
        False,
        lambda x: np.column_stack([x[:, 0], x[:, 1] - x[:, 0], x[:, 2]]),
    ),
    "gap 1e-10": (1e-10, True, lambda x: x[:, [0, 2]]),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", NEARLY_COLLINEAR)
def test_nearly_collinear_predictors(family, case):
    # mdmm used to walk along the near-null direction (coefficients 1e8, the
    # constraint off by 1e-4, a SeparationWarning); at 3e-5 both solvers
    # stopped at standardized coefficients of 1e3 blaming separation.
    gap, collinear, reference_predictors = NEARLY_COLLINEAR[case]
    x, s, y = nearly_collinear(family, gap)
    X = np.column_stack([x, s])
    expected = slsqp_predictions(family, reference_predictors(x), s, y)
    if collinear:
        fitted = {}
        for solver in SOLVERS:
            with pytest.warns(UserWarning, match="collinear") as caught:
                fitted[solver] = OrthogonalGLM([3], family=family, solver=solver)
                fitted[solver].fit(X, y)
            assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    else:
        fitted = fit_both(family, X, y, [3])
    scale = np.abs(expected).max()
    newton, mdmm = (predict(fitted[solver], X, family) for solver in SOLVERS)
    np.testing.assert_allclose(newton, mdmm, rtol=0, atol=1e-8 * scale)
    np.testing.assert_allclose(newton, expected, rtol=0, atol=1e-5 * scale)
    assert relative_violation(s, mdmm) < 1e-8


def constrained_reference(x, s, y, alpha):
    """Gaussian constrained (ridge) least squares on standardized ``x``, in numpy.

    Minimizes ``½ mean((y - ȳ - Zβ)²) + ½ α ‖β‖²`` over ``β`` in the null
    space ``N`` of ``S̃ᵀZ``: ``β = N θ``, ``θ`` by ``numpy.linalg.lstsq`` on
    the rows ``[ZN; √α I]`` (with ``α = 0`` the minimum-norm solution).
    """
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    null = scipy.linalg.null_space((s - s.mean(axis=0)).T @ z)
    rows = np.vstack(
        [z @ null / np.sqrt(len(y)), np.sqrt(alpha) * np.eye(null.shape[1])]
    )
    target = np.concatenate([(y - y.mean()) / np.sqrt(len(y)), np.zeros(null.shape[1])])
    theta = np.linalg.lstsq(rows, target, rcond=1e-10)[0]
    return y.mean() + z @ null @ theta


# (family, alpha, what must happen): 20 rows, 2,000 predictors. Classes are
# separable, so without a ridge a classifier is an error at once that names
# alpha and the shapes; a regression takes the minimum-norm solution. Every
# fit works in the row space (it used to form 2,001 x 2,001 systems, minutes).
WIDE = {
    "binomial alpha=0": ("binomial", 0.0, r"2000 predictor.*20 row.*alpha > 0"),
    "gaussian alpha=0": ("gaussian", 0.0, "collinear"),
    "poisson alpha=0": ("poisson", 0.0, "collinear"),
    "binomial alpha=0.1": ("binomial", 0.1, None),
    "gaussian alpha=0.1": ("gaussian", 0.1, None),
    "poisson alpha=0.1": ("poisson", 0.1, None),
}


@pytest.mark.parametrize("case", WIDE)
def test_more_predictors_than_rows(case):
    family, alpha, expected = WIDE[case]
    rng = np.random.default_rng(8)
    x, s = rng.normal(size=(20, 2000)), rng.normal(size=(20, 1))
    eta = 0.5 * x[:, 0] + 0.5 * s[:, 0]
    y = {
        "binomial": lambda: eta + rng.logistic(size=20) > 0,
        # from 1: a zero count fitted exactly has no finite log-mean
        "poisson": lambda: 1 + rng.poisson(np.exp(eta)),
        "gaussian": lambda: eta + rng.normal(size=20),
    }[family]().astype(float)
    X = np.column_stack([x, s])
    if expected is None:
        with hang_guard():
            fitted = fit_both(family, X, y, [2000], alpha=alpha)
    else:
        fitted = {}
        for solver in SOLVERS:
            glm = OrthogonalGLM([2000], family=family, solver=solver, alpha=alpha)
            error = "alpha" in expected
            with (
                hang_guard(),
                pytest.raises(ValueError, match=expected)
                if error
                else pytest.warns(CollinearityWarning, match=expected),
            ):
                fitted[solver] = glm.fit(X, y)
        if error:
            return
    newton, mdmm = (predict(fitted[solver], X, family) for solver in SOLVERS)
    scale = np.abs(newton).max()
    np.testing.assert_allclose(newton, mdmm, rtol=0, atol=1e-8 * scale)
    assert relative_violation(s, newton) < 1e-8
    if family == "gaussian":
        expected = constrained_reference(x, s, y, alpha)
        np.testing.assert_allclose(newton, expected, rtol=0, atol=1e-8 * scale)


# Inputs at the edge of float64 whose answer is not representable: a clear
# error naming the argument (spoil(x, s, y) -> (X, y), protected position 3).
UNREPRESENTABLE = {
    # slopes of size 1 / 5e-319 overflow
    "subnormal features": (
        lambda x, s, y: (np.column_stack([x * 5e-319, s]), y),
        r"X column\(s\) \['x0', 'x1', 'x2'\] overflow float64",
    ),
    # the multipliers of a constraint on a column of size 5e-324 overflow
    "protected * 5e-324": (
        lambda x, s, y: (np.column_stack([x, s[:, :1] * 5e-324]), y),
        r"protected column\(s\) \['x3'\] are too small",
    ),
    "protected indicator * 5e-324": (
        lambda x, s, y: (np.column_stack([x, (s[:, :1] > 0) * 5e-324]), y),
        r"protected column\(s\) \['x3'\] are too small",
    ),
}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("case", UNREPRESENTABLE)
def test_unrepresentable_answers_are_clear_errors(family, case):
    spoil, message = UNREPRESENTABLE[case]
    X, y = spoil(*simulate(family, seed=9))
    for solver in SOLVERS:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning on the way
            with pytest.raises(ValueError, match=message):
                OrthogonalGLM([3], family=family, solver=solver).fit(X, y)


def test_orthogonality_check_of_huge_poisson_counts():
    # Counts near 1e300 fit; their evaluation GLM used to overflow its IRLS
    # weights. Against the same counts at unit scale: the estimated-dispersion
    # test is scale-free, the unit-dispersion errors shrink by sqrt(1e300).
    x, s, y = simulate("poisson", seed=10)
    X = pd.DataFrame(np.column_stack([x, s]), columns=["a", "b", "c", "s0", "s1"])
    reports = {}
    for scale in (1.0, 1e300):
        glm = OrthogonalGLM(["s0", "s1"], family="poisson").fit(X, y * scale)
        for dispersion in ("family", "estimated"):
            report = check_estimator_orthogonality(
                glm, X, ["s0", "s1"], family="poisson", dispersion=dispersion
            )
            reports[scale, dispersion] = report.to_frame()
    for dispersion in ("family", "estimated"):
        table = reports[1e300, dispersion]
        assert np.isfinite(table[["coef", "std_err", "statistic"]].to_numpy()).all()
        assert np.abs(table["coef"]).max() < 1e-12
    estimated, unit = reports[1e300, "estimated"], reports[1.0, "estimated"]
    np.testing.assert_allclose(estimated["std_err"], unit["std_err"], rtol=1e-8)
    assert estimated["passed"].all()
    np.testing.assert_allclose(
        reports[1e300, "family"]["std_err"] * 1e150,
        reports[1.0, "family"]["std_err"],
        rtol=1e-8,
    )
