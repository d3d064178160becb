"""OrthogonalGLM on Adult: fit times and evaluation models, against baselines.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_glm.py [--skip-fairlearn] [--repeats 3]

Every method fits the paper's Adult model (its Table 2: age, workclass,
education, marital status, relationship, hours per week; 30,162 rows) and its
predictions go through the evaluation model (a binomial GLM of the predicted
probabilities on [1, S], S = one-hot sex and race, dispersion 1). Timed:

- statsmodels' unconstrained GLM (IRLS): the baseline of the first ratio;
- glum's and scikit-learn's (newton-cholesky) unconstrained fits, glum being
  the baseline of the second ratio;
- OrthogonalGLM, solver="newton" and solver="mdmm";
- scipy's SLSQP on the same constrained problem (raw one-hot design, analytic
  gradient and constraint Jacobian);
- fairlearn's ExponentiatedGradient(LogisticRegression, DemographicParity)
  (slow; --skip-fairlearn leaves it out).

Then Table 3 of the paper: accuracy without and with the correction when the
protected columns are also predictors, on Adult (train and test files) and
COMPAS. BLAS is limited to one thread for every method (set before numpy is
imported), because a shared machine makes multithreaded BLAS timings erratic.

``--speed`` prints only the speed table of issue 33 instead: the constrained
newton fit against scikit-learn's ``LogisticRegression(solver="newton-cholesky")``
and glum on the unconstrained problem of the same size (synthetic 200,000 and
1,000,000 x 40, and Adult), with BLAS (and OpenMP) at one thread and at the
default, warm and cold, all in one run (thread counts set by threadpoolctl;
``--blas-threads 1`` or ``default`` runs one setting only), in wall-clock and in
the process's CPU seconds (less disturbed by other jobs on a shared machine).
"""

import os
import sys

if "--speed" not in sys.argv:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.optimize  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy.special import expit  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from orthokit.datasets import ADULT_PAPER_FEATURES, load_adult, load_compas  # noqa: E402
from orthokit.evaluation import check_orthogonality  # noqa: E402
from orthokit.linear_model import OrthogonalGLM, SeparationWarning  # noqa: E402

PROTECTED = ["sex", "race"]


def markdown(frame, digits=3):
    """A GitHub table without the optional ``tabulate`` dependency."""

    def cell(value):
        if isinstance(value, float | np.floating):
            return "" if np.isnan(value) else f"{value:.{digits}g}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * frame.shape[1])
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def evaluation_model(probability, S):
    """Binomial GLM of predicted probabilities on [1, S], dispersion 1."""
    table = check_orthogonality(
        np.asarray(probability, dtype=float), S, family="binomial"
    ).to_frame()
    table = table.set_index("term")
    return table["coef"], table["p_value"]


def adult(split="train"):
    frame = load_adult(split=split).frame
    features = pd.get_dummies(frame[ADULT_PAPER_FEATURES], drop_first=True, dtype=float)
    S = pd.get_dummies(frame[PROTECTED], drop_first=True, dtype=float)
    X = pd.concat([features, frame[PROTECTED]], axis=1)
    return X, frame["income"].to_numpy(), features, S


def timed(function, repeats):
    """Best wall time over ``repeats`` runs and the last result."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def slsqp(features, S, y):
    design = np.column_stack([np.ones(len(y)), features.to_numpy()])
    s_centred = (S - S.mean()).to_numpy()
    n = len(y)

    def loss(beta):
        eta = design @ beta
        value = np.mean(np.logaddexp(0, eta) - y * eta)
        return value, design.T @ (expit(eta) - y) / n

    def constraint(beta):
        return s_centred.T @ expit(design @ beta) / n

    def jacobian(beta):
        mu = expit(design @ beta)
        return (s_centred * (mu * (1 - mu))[:, None]).T @ design / n

    result = scipy.optimize.minimize(
        loss,
        np.zeros(design.shape[1]),
        jac=True,
        method="SLSQP",
        constraints=[{"type": "eq", "fun": constraint, "jac": jacobian}],
        options={"maxiter": 2000, "ftol": 1e-10},
    )
    return result, expit(design @ result.x), np.abs(constraint(result.x)).max()


def fairlearn_fit(features, S, y, sensitive):
    from fairlearn.reductions import DemographicParity, ExponentiatedGradient
    from sklearn.linear_model import LogisticRegression

    mitigator = ExponentiatedGradient(
        LogisticRegression(max_iter=1000), DemographicParity()
    )
    mitigator.fit(features, y, sensitive_features=sensitive)
    return mitigator, mitigator._pmf_predict(features)[:, 1]


def accuracy_table():
    rows = []
    for name in ("adult", "compas"):
        if name == "adult":
            X, y, features, S = adult()
            X_test, y_test, features_test, S_test = adult("test")
        else:
            compas = load_compas()
            X, y = compas.data, compas.target.to_numpy()
            features = X.drop(columns=["race", "sex"]).astype(float)
            S = pd.get_dummies(
                compas.frame[["race", "sex"]], drop_first=True, dtype=float
            )
            X_test = None
        design = sm.add_constant(pd.concat([features, S], axis=1))
        base = sm.GLM(y, design, family=sm.families.Binomial()).fit()
        glm = OrthogonalGLM(
            list(S.columns.str.split("_").str[0].unique()),
            solver="newton",
            protected_as_predictors=True,
        ).fit(X, y)
        before = np.mean((base.predict(design) > 0.5) == y)
        after = glm.score(X, y)
        row = {"data": name, "train before": before, "train after": after}
        if X_test is not None:
            test_design = sm.add_constant(
                pd.concat([features_test, S_test], axis=1)
            ).reindex(columns=design.columns, fill_value=0.0)
            row["test before"] = np.mean((base.predict(test_design) > 0.5) == y_test)
            row["test after"] = glm.score(X_test, y_test)
        coef, pvalues = evaluation_model(glm.predict_proba(X)[:, 1], S)
        row["max |eval coef| after"] = np.abs(coef).max()
        row["min p after"] = pvalues.min()
        rows.append(row)
    return pd.DataFrame(rows)


def poisson_simulation(n=1000, p=5, k=2, rho=0.5, seeds=range(10)):
    """Appendix G.1: features N(0, 1), protected = rho x + sqrt(1 - rho^2) e."""
    from orthokit.linear_model import OrthogonalPoissonRegressor

    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, p))
        s = rho * x[:, :k] + np.sqrt(1 - rho**2) * rng.normal(size=(n, k))
        y = rng.poisson(np.exp(0.25 * x.sum(axis=1) + 0.25 * s.sum(axis=1)))
        base = sm.GLM(y, sm.add_constant(x), family=sm.families.Poisson()).fit()
        glm = OrthogonalPoissonRegressor(list(range(p, p + k)), solver="newton")
        glm.fit(np.column_stack([x, s]), y)
        row = {"seed": seed}
        for label, mean in (
            ("uncorrected", base.fittedvalues),
            ("corrected", glm.predict(np.column_stack([x, s]))),
        ):
            design = sm.add_constant(s)
            result = sm.GLM(mean, design, family=sm.families.Poisson()).fit(scale=1.0)
            row[f"{label} max |coef|"] = np.abs(result.params[1:]).max()
            row[f"{label} min p"] = result.pvalues[1:].min()
        rows.append(row)
    return pd.DataFrame(rows)


def synthetic_table(n_rows, n_features=40, repeats=2, seed=0):
    """Constrained fits against glum's and scikit-learn's unconstrained ones.

    A binomial problem with ``n_features`` columns, two of them protected
    (correlated with the features). Ratios are to glum's unconstrained fit;
    "cold" is the first fit in the process, "warm" the best of ``repeats``.
    """
    from glum import GeneralizedLinearRegressor
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, n_features - 2))
    s = 0.5 * x[:, :2] + rng.normal(size=(n_rows, 2))
    eta = x[:, :5].sum(axis=1) * 0.3 + 0.5 * s.sum(axis=1)
    y = rng.binomial(1, expit(eta))
    X = np.column_stack([x, s])
    fits = {
        "glum (IRLS), unconstrained": lambda: GeneralizedLinearRegressor(
            family="binomial", alpha=0.0
        ).fit(x, y),
        "sklearn LogisticRegression(newton-cholesky), unconstrained": lambda: (
            LogisticRegression(solver="newton-cholesky", C=np.inf).fit(x, y)
        ),
        "statsmodels GLM (IRLS), unconstrained": lambda: sm.GLM(
            y, sm.add_constant(x), family=sm.families.Binomial()
        ).fit(),
        "OrthogonalGLM newton, 2 constraints": lambda: OrthogonalGLM(
            [n_features - 2, n_features - 1], solver="newton"
        ).fit(X, y),
        "OrthogonalGLM mdmm, 2 constraints": lambda: OrthogonalGLM(
            [n_features - 2, n_features - 1], solver="mdmm"
        ).fit(X, y),
    }
    rows = []
    for name, fit in fits.items():
        start = time.perf_counter()
        fit()
        cold = time.perf_counter() - start
        warm, _ = timed(fit, repeats)
        rows.append({"method": name, "cold s": cold, "warm s": min(warm, cold)})
    table = pd.DataFrame(rows)
    anchor = table["warm s"].iloc[0]
    table["warm x glum"] = table["warm s"] / anchor
    table["cold x glum"] = table["cold s"] / table["cold s"].iloc[0]
    return table


def synthetic_problem(n_rows, n_features=40, seed=0):
    """The synthetic binomial problem: ``(X with 2 protected last, x alone, y)``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_rows, n_features - 2))
    s = 0.5 * x[:, :2] + rng.normal(size=(n_rows, 2))
    y = rng.binomial(1, expit(x[:, :5].sum(axis=1) * 0.3 + 0.5 * s.sum(axis=1)))
    return np.column_stack([x, s]), x, y


def speed_fits(X, design, y, protected, encoded=None):
    """The anchors (unconstrained, ``design`` alone) and our constrained fit.

    ``encoded``: ``(array, protected)``, the same data as one float array with
    the protected columns already encoded (Adult's frame has two categorical
    columns), for our fit on the input the anchors get: a numeric array.
    """
    from glum import GeneralizedLinearRegressor
    from sklearn.linear_model import LogisticRegression

    def ours(solver, X=X, protected=protected):
        def fit():
            with warnings.catch_warnings():  # Adult is quasi-separated
                warnings.simplefilter("ignore", SeparationWarning)
                return OrthogonalGLM(protected, solver=solver).fit(X, y)

        return fit

    fits = {
        "newton-cholesky": lambda: LogisticRegression(
            solver="newton-cholesky", C=np.inf
        ).fit(design, y),
        "glum": lambda: GeneralizedLinearRegressor(
            family="binomial", alpha=0.0
        ).fit(design, y),
        "OrthogonalGLM newton": ours("newton"),
    }  # fmt: skip
    if encoded is not None:
        fits["OrthogonalGLM newton, numpy X"] = ours("newton", *encoded)
    fits["OrthogonalGLM mdmm"] = ours("mdmm")
    return fits


def speed_rows(label, fits, repeats, threads):
    """Cold and warm times of every fit, under one thread setting.

    Cold: each method's first fit in this block, right after another method
    ran (its data and code not in cache); warm: the best of the cold one and
    ``repeats`` rounds in which every method runs once, in turn, so that a
    change of the machine's load hits every method alike. Wall-clock seconds
    and the process's CPU seconds (all its threads), the latter much less
    disturbed by other jobs on a shared machine.
    """
    times = {name: [] for name in fits}
    cpu = {name: [] for name in fits}
    iterations = {}
    with threadpool_limits(limits=threads):
        for _ in range(repeats + 1):
            for name, fit in fits.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                model = fit()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
                iterations[name] = np.ravel(model.n_iter_)[0]
    rows = []
    for name, seconds in times.items():
        rows.append({
            "problem": label, "BLAS threads": threads or "default", "method": name,
            "iterations": int(iterations[name]), "cold s": seconds[0],
            "warm s": min(seconds), "warm cpu s": min(cpu[name]),
        })  # fmt: skip
    table = pd.DataFrame(rows).set_index("method")
    for anchor in ("newton-cholesky", "glum"):
        for kind in ("warm", "cold", "warm cpu"):
            table[f"{kind} x {anchor}"] = (
                table[f"{kind} s"] / table.loc[anchor, f"{kind} s"]
            )
    return table.reset_index()


def speed_table(sizes, repeats, skip_mdmm_above=200_000, thread_settings=(1, None)):
    """Issue 33: every problem at one BLAS thread, then at the default."""
    problems = []
    for n_rows in sizes:
        X, x, y = synthetic_problem(n_rows)
        problems.append((f"{n_rows:,} x 40", X, x, y, [38, 39], n_rows))
    X, y, features, S = adult()
    encoded = np.column_stack([features.to_numpy(), S.to_numpy()])
    protected = list(range(features.shape[1], encoded.shape[1]))
    problems.append(("Adult", X, features.to_numpy(), y, PROTECTED, len(y)))
    tables = []
    for threads in thread_settings:
        for label, X, design, y, protected_columns, n_rows in problems:
            numeric = (encoded, protected) if label == "Adult" else None
            fits = speed_fits(X, design, y, protected_columns, numeric)
            if n_rows > skip_mdmm_above:
                del fits["OrthogonalGLM mdmm"]
            tables.append(speed_rows(label, fits, repeats, threads))
            # Each block as it is done: a run on a loaded machine takes a while.
            print(markdown(tables[-1]), flush=True)
    return pd.concat(tables, ignore_index=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-fairlearn", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--simulation-only", action="store_true")
    parser.add_argument("--skip-mdmm", action="store_true", help="--speed: no mdmm")
    parser.add_argument(
        "--speed", type=int, nargs="*", metavar="ROWS",
        help="only issue 33's speed table: synthetic problems of these sizes "
        "(default 200000 1000000) and Adult, BLAS at 1 thread and the default",
    )  # fmt: skip
    parser.add_argument(
        "--blas-threads", choices=["1", "default", "both"], default="both",
        help="--speed: BLAS threads of the runs (default: one, then the default)",
    )  # fmt: skip
    parser.add_argument(
        "--synthetic", type=int, nargs="*", metavar="ROWS",
        help="only the synthetic 40-column binomial timing table at these sizes",
    )  # fmt: skip
    args = parser.parse_args()
    if args.speed is not None:
        blas = [
            (pool["internal_api"], pool["num_threads"]) for pool in threadpool_info()
        ]
        print(f"Speed table; thread pools at their default: {blas}; load average "
              f"{os.getloadavg()[0]:.1f} at the start")  # fmt: skip
        table = speed_table(
            args.speed or [200_000, 1_000_000],
            args.repeats,
            skip_mdmm_above=0 if args.skip_mdmm else 200_000,
            thread_settings={"1": (1,), "default": (None,), "both": (1, None)}[
                args.blas_threads
            ],
        )
        print(markdown(table))
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        return
    if args.synthetic:
        for n_rows in args.synthetic:
            print(f"Synthetic binomial, {n_rows} x 40, 2 protected; BLAS threads "
                  f"{os.environ['OPENBLAS_NUM_THREADS']}")  # fmt: skip
            print(markdown(synthetic_table(n_rows, repeats=args.repeats)))
            print()
        return
    if args.simulation_only:
        print("Poisson simulation (appendix G.1), n=1000, p=5, k=2, rho=0.5")
        print(markdown(poisson_simulation()))
        return

    X, y, features, S = adult()
    print(f"Adult: {X.shape[0]} rows, {features.shape[1]} one-hot predictors, "
          f"{S.shape[1]} encoded protected columns; BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}")  # fmt: skip
    results = {}

    def statsmodels_fit():
        return sm.GLM(y, sm.add_constant(features), family=sm.families.Binomial()).fit()

    seconds, base = timed(statsmodels_fit, args.repeats)
    results["statsmodels GLM (IRLS), unconstrained"] = (
        seconds, base.fit_history["iteration"], np.nan, base.fittedvalues
    )  # fmt: skip
    from glum import GeneralizedLinearRegressor
    from sklearn.linear_model import LogisticRegression

    design = features.to_numpy()
    seconds, model = timed(
        lambda: GeneralizedLinearRegressor(family="binomial", alpha=0.0).fit(design, y),
        args.repeats,
    )
    results["glum (IRLS), unconstrained"] = (
        seconds, model.n_iter_, np.nan, model.predict(design)
    )  # fmt: skip
    seconds, model = timed(
        lambda: LogisticRegression(solver="newton-cholesky", C=np.inf).fit(design, y),
        args.repeats,
    )
    results["sklearn LogisticRegression(newton-cholesky), unconstrained"] = (
        seconds, int(model.n_iter_[0]), np.nan, model.predict_proba(design)[:, 1]
    )  # fmt: skip
    for solver in ("newton", "mdmm"):
        glm = OrthogonalGLM(PROTECTED, solver=solver)
        seconds, glm = timed(lambda glm=glm: glm.fit(X, y), args.repeats)
        results[f"OrthogonalGLM solver={solver!r}"] = (
            seconds, glm.n_iter_, glm.constraint_violation_,
            glm.predict_proba(X)[:, 1],
        )  # fmt: skip
    seconds, (result, probability, violation) = timed(
        lambda: slsqp(features, S, y), args.repeats
    )
    results["scipy SLSQP, same constrained problem"] = (
        seconds, result.nit, violation, probability
    )  # fmt: skip
    if not args.skip_fairlearn:
        sensitive = load_adult().frame[PROTECTED].astype(str).agg("/".join, axis=1)
        seconds, (_, probability) = timed(
            lambda: fairlearn_fit(features, S, y, sensitive), 1
        )
        results["fairlearn ExponentiatedGradient(DemographicParity)"] = (
            seconds, np.nan, np.nan, probability
        )  # fmt: skip

    baseline = results["statsmodels GLM (IRLS), unconstrained"][0]
    glum_seconds = results["glum (IRLS), unconstrained"][0]
    rows = []
    for name, (seconds, n_iter, violation, probability) in results.items():
        coef, pvalues = evaluation_model(probability, S)
        row = {
            "method": name,
            "fit s": seconds,
            "x statsmodels": seconds / baseline,
            "x glum": seconds / glum_seconds,
            "iterations": n_iter,
            "max |S~'mu|/n": violation,
        }
        for column in S.columns:
            row[f"{column} coef (p)"] = f"{coef[column]:.3f} ({pvalues[column]:.2g})"
        rows.append(row)
    table = pd.DataFrame(rows)
    slsqp_seconds = results["scipy SLSQP, same constrained problem"][0]
    print()
    print(markdown(table))
    print()
    for solver in ("newton", "mdmm"):
        seconds = results[f"OrthogonalGLM solver={solver!r}"][0]
        print(f"{solver}: {seconds / baseline:.2f}x statsmodels, "
              f"{seconds / glum_seconds:.2f}x glum, "
              f"{slsqp_seconds / seconds:.1f}x faster than SLSQP")  # fmt: skip
    print()
    print("Accuracy without / with the correction, protected columns as predictors")
    print("(paper, Table 3: adult 0.854 -> 0.833, compas 0.739 -> 0.724)")
    print(markdown(accuracy_table()))
    print()
    print("Poisson simulation (appendix G.1), n=1000, p=5, k=2, rho=0.5")
    print(markdown(poisson_simulation()))


if __name__ == "__main__":
    main()
