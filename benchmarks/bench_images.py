"""Confounded-image benchmark of MDN, P-MDN, R-MDN and Orthogonalize (issue 6).

The seeds' CNN (conv 16, conv 32, dense 84, output) with each normalization
after both convolutions and the pre-logits layer, trained on the synthetic
confounded images (ALGORITHMS.md section 7) at batch sizes 16, 64, 256 and
1000. Reports test accuracy (83.3% is the best possible without the
confounder) and dcor^2 between the pre-logits features and the confounder
within each group (``dcor.u_distance_correlation_sqr``, exact, as the authors),
mean and sd over seeds; the 5-stage continual variant (confounder ranges move
apart by 0.125 per stage) with ACCd/BWTd/FWTd for the baseline and R-MDN; and
the time per training step of each layer against the BatchNorm CNN.

The default run is light (400 training images, 2 epochs, lr 2e-3) so it ends
in under 10 minutes on a shared 2-core CPU; ``--full`` runs the papers'
protocol (2000 training images, 100 epochs, lr 1e-4 decayed 0.8x every 20
epochs, as seed 003 Suppl. F.1), which takes hours on a CPU.

    PYTHONPATH=. python benchmarks/bench_images.py [--full] [--out FILE]
"""

import argparse
import sys
import time

import numpy as np
import torch

from benchmarks._image_models import (
    METHODS,
    ConfoundedCNN,
    Trainer,
    evaluate,
    time_steps,
)
from orthokit.datasets import make_confounded_images, make_continual_confounded_images

LIGHT = {"n_train": 200, "n_test": 200, "epochs": 2, "lr": 2e-3, "decay": None}
FULL = {"n_train": 1000, "n_test": 1000, "epochs": 100, "lr": 1e-4, "decay": (20, 0.8)}

# Seed 003, Table 7: |accuracy - 83.3| in points and dcor^2 (group 1 / group 2),
# batch sizes 2, 16, 64, 256, 1024 (mean; the sds are in the paper).
PAPER_TABLE7 = {
    "baseline": (
        [10.49, 10.49, 10.50, 10.52, 10.55],
        [
            (0.408, 0.388),
            (0.420, 0.397),
            (0.421, 0.394),
            (0.416, 0.391),
            (0.310, 0.281),
        ],
    ),
    "mdn": (
        [8.13, 4.93, 3.21, 0.52, 0.95],
        [
            (0.977, 0.999),
            (0.142, 0.046),
            (0.086, 0.024),
            (0.014, 0.000),
            (0.003, 0.000),
        ],
    ),
    "pmdn": (
        [4.65, 3.49, 1.85, 0.23, 1.58],
        [
            (0.042, 0.060),
            (0.022, 0.013),
            (0.050, 0.015),
            (0.048, 0.027),
            (0.098, 0.091),
        ],
    ),
    "rmdn": (
        [0.28, 0.04, 0.13, 1.19, 0.19],
        [
            (0.019, 0.005),
            (0.014, 0.001),
            (0.006, 0.000),
            (0.013, 0.001),
            (0.015, 0.008),
        ],
    ),
}
PAPER_BATCHES = [2, 16, 64, 256, 1024]
# Seed 003, Table 1, dataset 1 (confounder distribution changes): mean (sd).
PAPER_TABLE1 = {
    "baseline": ("0.18 (0.00)", "0.03 (0.04)", "0.19 (0.00)"),
    "rmdn": ("0.02 (0.01)", "0.15 (0.14)", "0.02 (0.01)"),
}


def _shuffled(data, seed):
    order = np.random.default_rng(seed).permutation(len(data.y))
    out = type(data)(**data)
    for key in ("images", "y", "confounder", "main_effect"):
        out[key] = data[key][order]
    return out


def run_static(config, methods, batch_sizes, seeds, log):
    results = {}
    for seed in seeds:
        train = make_confounded_images(config["n_train"], random_state=seed)
        test = _shuffled(
            make_confounded_images(config["n_test"], random_state=seed + 1000), seed
        )
        metadata = torch.as_tensor(train.confounder, dtype=torch.float32)[:, None]
        target = torch.as_tensor(train.y, dtype=torch.float32)
        for batch_size in batch_sizes:
            for method in methods:
                torch.manual_seed(seed)
                rng = np.random.default_rng(seed)
                model = ConfoundedCNN(method)
                trainer = Trainer(model, config["lr"], decay=config["decay"])
                trainer.set_kernels(metadata, target)
                start = time.perf_counter()
                for _ in range(config["epochs"]):
                    trainer.epoch(train, batch_size, rng)
                accuracy, dcors = evaluate(model, test, batch_size)
                results.setdefault((method, batch_size), []).append((accuracy, *dcors))
                log(
                    f"seed {seed} bs {batch_size:5d} {method:13s} acc {accuracy:.3f} "
                    f"dcor2 {dcors[0]:.3f}/{dcors[1]:.3f} "
                    f"({time.perf_counter() - start:.1f}s)"
                )
    return results


def _transfer_metrics(R, best):
    """ACCd, BWTd, FWTd: seed 003's metrics (eqs. 5-7, reconstructed).

    ``R[i, j]`` is the accuracy on stage ``j`` after training stage ``i``;
    ``best[j]`` the stage's best accuracy without the confounder.
    """
    T = len(best)
    dist = np.abs(R - best[None, :])
    acc_d = dist[T - 1].mean()
    bwt_d = np.mean([dist[T - 1, i] - dist[i, i] for i in range(T - 1)])
    fwt_d = np.mean([dist[i - 1, i] for i in range(1, T)])
    return acc_d, bwt_d, fwt_d


def run_continual(config, seeds, batch_size, log):
    results = {}
    for seed in seeds:
        stages = make_continual_confounded_images(
            config["n_train"] // 2, shift="confounder", random_state=seed
        )
        tests = make_continual_confounded_images(
            config["n_test"] // 2, shift="confounder", random_state=seed + 1000
        )
        tests = [_shuffled(t, seed) for t in tests]
        best = np.array([t.max_accuracy for t in tests])
        for method in ("baseline", "rmdn"):
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            model = ConfoundedCNN(method)
            trainer = Trainer(model, config["lr"])
            R = np.zeros((len(stages), len(stages)))
            for i, stage in enumerate(stages):
                for _ in range(config["epochs"]):
                    trainer.epoch(stage, batch_size, rng)
                for j, test in enumerate(tests):
                    R[i, j] = evaluate(model, test, 250)[0]
            metrics = _transfer_metrics(R, best)
            results.setdefault(method, []).append((R, metrics))
            log(
                f"continual seed {seed} {method:8s} final-stage acc "
                f"{np.round(R[-1], 3).tolist()} ACCd {metrics[0]:.3f} "
                f"BWTd {metrics[1]:.3f} FWTd {metrics[2]:.3f}"
            )
    return results


def run_overhead(methods, batch_sizes, n_steps, log):
    """Median time per training step; methods interleaved step by step so that
    load from other processes hits all of them alike."""
    data = make_confounded_images(600, random_state=0)
    metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
    target = torch.as_tensor(data.y, dtype=torch.float32)
    per_step = {}
    for batch_size in batch_sizes:
        trainers = {}
        for method in methods:
            torch.manual_seed(0)
            trainers[method] = Trainer(ConfoundedCNN(method), 1e-4)
            trainers[method].set_kernels(metadata, target)
        times = {method: [] for method in methods}
        rng = np.random.default_rng(0)
        for _ in range(n_steps + 1):  # the first round warms up
            for method in methods:
                times[method].append(
                    time_steps(trainers[method], data, batch_size, 1, rng)
                )
        for method in methods:
            per_step[method, batch_size] = float(np.median(times[method][1:]))
        ratios = {
            m: per_step[m, batch_size] / per_step["batchnorm", batch_size]
            for m in methods
        }
        log(
            f"overhead bs {batch_size}: "
            + ", ".join(f"{m} {r:.2f}x" for m, r in ratios.items())
        )
    return per_step


def _mean_sd(values):
    values = np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{np.nanmean(values):.3f} ± {sd:.3f}"


def report(config, label, static, continual, overhead, methods, batch_sizes, seeds):
    lines = [
        f"Protocol: {label}: {2 * config['n_train']} training and "
        f"{2 * config['n_test']} test images, {config['epochs']} epochs, Adam lr "
        f"{config['lr']}"
        + (f", decay {config['decay']}" if config["decay"] else "")
        + f"; seeds {list(seeds)}; P-MDN beta lr 0.045; R-MDN delta 0.01, "
        "forgetting 0.999, process noise 1e-4.",
    ]
    if static:
        lines += [
            "",
            "### Static: test accuracy (83.3% = best without the confounder) and "
            "dcor² (pre-logits vs confounder, mean of the two groups), mean ± sd",
            "",
            "| method | "
            + " | ".join(f"bs {b} acc" for b in batch_sizes)
            + " | "
            + " | ".join(f"bs {b} dcor²" for b in batch_sizes)
            + " |",
            "|---" * (1 + 2 * len(batch_sizes)) + "|",
        ]
        for method in methods:
            accs, dcors = [], []
            for b in batch_sizes:
                rows = np.array(static[method, b])
                accs.append(_mean_sd(100 * rows[:, 0]))
                dcors.append(_mean_sd(np.nanmean(rows[:, 1:], axis=1)))
            lines.append(f"| {method} | " + " | ".join(accs + dcors) + " |")
        lines += [
            "",
            "### Beside seed 003 Table 7: |accuracy − 83.3| (points) and dcor² "
            "(group 0 / group 1); ours: mean over seeds",
            "",
            "| method | batch | ours \\|acc−83.3\\| | paper \\|acc−83.3\\| (bs) | "
            "ours dcor² | paper dcor² |",
            "|---|---|---|---|---|---|",
        ]
        for method in methods:
            for b in batch_sizes:
                rows = np.array(static[method, b])
                ours_gap = np.mean(np.abs(100 * rows[:, 0] - 100 * 5 / 6))
                ours_dcor = (
                    f"{np.nanmean(rows[:, 1]):.3f} / {np.nanmean(rows[:, 2]):.3f}"
                )
                paper_gap = paper_dcor = "–"
                if method in PAPER_TABLE7:
                    k = int(np.argmin([abs(np.log(b / p)) for p in PAPER_BATCHES]))
                    gaps, dc = PAPER_TABLE7[method]
                    paper_gap = f"{gaps[k]:.2f} ({PAPER_BATCHES[k]})"
                    paper_dcor = f"{dc[k][0]:.3f} / {dc[k][1]:.3f}"
                lines.append(
                    f"| {method} | {b} | {ours_gap:.2f} | {paper_gap} | {ours_dcor} | "
                    f"{paper_dcor} |"
                )
    if continual:
        lines += [
            "",
            "### Continual (5 stages, confounder ranges move apart 0.125 per "
            "stage): metrics in accuracy fractions, mean ± sd over seeds",
            "",
            "| method | final accuracy per stage | ACCd | BWTd | FWTd | "
            "paper ACCd | paper BWTd | paper FWTd |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for method, runs in continual.items():
            final = np.mean([R[-1] for R, _ in runs], axis=0)
            metrics = np.array([m for _, m in runs])
            paper = PAPER_TABLE1[method]
            lines.append(
                f"| {method} | {np.round(final, 3).tolist()} | "
                + " | ".join(_mean_sd(metrics[:, j]) for j in range(3))
                + f" | {paper[0]} | {paper[1]} | {paper[2]} |"
            )
    if overhead:
        sizes = sorted({b for _, b in overhead})
        lines += [
            "",
            "### Time per training step, ratio to the BatchNorm CNN (same run)",
            "",
            "| method | " + " | ".join(f"bs {b}" for b in sizes) + " |",
            "|---" * (1 + len(sizes)) + "|",
        ]
        for method in sorted({m for m, _ in overhead}, key=METHODS.index):
            cells = [
                f"{overhead[method, b] / overhead['batchnorm', b]:.2f}x "
                f"({1000 * overhead[method, b]:.0f} ms)"
                for b in sizes
            ]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the papers' protocol")
    parser.add_argument("--epochs", type=int, help="override the epochs")
    parser.add_argument("--n-train", type=int, help="override images per group")
    parser.add_argument("--lr", type=float, help="override the learning rate")
    parser.add_argument("--continual-epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--overhead-steps", type=int, default=8)
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=[16, 64, 256, 1000]
    )
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--no-static", action="store_true")
    parser.add_argument("--no-continual", action="store_true")
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--out", help="also write the markdown tables here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    config = dict(FULL if args.full else LIGHT)
    label = "full (papers)" if args.full else "light default"
    for key in ("epochs", "n_train", "lr"):
        if getattr(args, key):
            config[key] = getattr(args, key)
            config["n_test"] = config["n_train"]
            label += f", {key} set to {getattr(args, key)}"
    seeds = range(args.seeds)

    def log(message):
        print(message, flush=True)

    log(f"{label}: {config}  (light runs under-train large batches: few steps)")
    start = time.perf_counter()
    static = None
    if not args.no_static:
        static = run_static(config, args.methods, args.batch_sizes, seeds, log)
    continual = None
    if not args.no_continual:
        continual_config = dict(config)
        if not args.full:
            continual_config["epochs"] = args.continual_epochs
        continual = run_continual(continual_config, seeds, 64, log)
    overhead = None
    if not args.no_overhead:
        overhead = run_overhead(args.methods, [16, 64, 256], args.overhead_steps, log)
    text = report(
        config,
        label,
        static,
        continual,
        overhead,
        args.methods,
        args.batch_sizes,
        seeds,
    )
    text += f"\n\nTotal wall time: {time.perf_counter() - start:.0f} s."
    print("\n" + text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
