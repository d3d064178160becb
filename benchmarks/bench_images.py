"""Confounded-image benchmark of MDN, P-MDN, R-MDN and Orthogonalize (issue 6).

The seeds' CNN (conv 16, conv 32, dense 84, output) with each normalization
after both convolutions and the pre-logits layer, trained on the synthetic
confounded images (docs/user_guide/torch_layers.rst) at batch sizes 16, 64, 256 and
1000. Reports test accuracy (83.3% is the best possible without the
confounder) and dcor^2 between the pre-logits features and the confounder
within each group (``dcor.u_distance_correlation_sqr``, exact, as the authors),
mean and sd over seeds; the 5-stage continual variant (R-MDN paper, dataset 1:
confounder ranges move apart by 0.125 per stage, best accuracy 75%) with
ACCd/BWTd/FWTd for the baseline and R-MDN; and the time per training step of
each layer against the BatchNorm CNN.

Default (light, 5-8 minutes on one shared CPU core): the images are
the authors' 32x32 ones mean-pooled 2x2 to 16x16 (same kernels and
confounding, about 9x fewer multiply-adds; the CNN is unchanged but for its input
size), and every batch size gets a fixed number of Adam steps with a cosine
decay of the learning rate to 1%: 200 steps at batch 16 (lr 1e-3), 100 at 64
(2e-3), 40 at 256 (3e-3) and 25 at 1000 (3e-3); the continual run trains 100
steps per stage at batch 16 (lr 1e-3, a fresh Adam per stage as the authors).
``--steps-scale`` multiplies the steps.
``--full`` runs the papers' protocol instead (32x32, 2000 training images,
100 epochs, Adam lr 1e-4 decayed 0.8x every 20 epochs, R-MDN paper Suppl. F.1;
hours on a CPU). Threads: torch.set_num_threads(1); run with
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1.

    PYTHONPATH=. python benchmarks/bench_images.py [--full] [--out FILE]
"""

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._image_models import (
    METHODS,
    ConfoundedCNN,
    Trainer,
    evaluate,
    time_steps,
)
from orthokit.datasets import make_confounded_images, make_continual_confounded_images

# plan: batch size -> (optimizer steps, lr), cosine decay over the steps.
LIGHT = {
    "pool": 2,
    "n_train": 1000,
    "n_test": 500,
    "plan": {16: (200, 1e-3), 64: (100, 2e-3), 256: (40, 3e-3), 1000: (25, 3e-3)},
    "continual": {
        "n_train": 500,
        "n_test": 250,
        "batch_size": 16,
        "steps": 100,
        "lr": 1e-3,
    },
}
FULL = {
    "pool": 1,
    "n_train": 1000,
    "n_test": 1000,
    "epochs": 100,
    "lr": 1e-4,
    "decay": (20, 0.8),
    "continual": {
        "n_train": 1024,
        "n_test": 1024,
        "batch_size": 128,
        "epochs": 100,
        "lr": 5e-4,
        "decay": (20, 0.8),
    },
}

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


def _prepare(data, pool, seed=None):
    """Mean-pool the images ``pool x pool``; shuffle the rows if ``seed``."""
    out = type(data)(**data)
    if pool > 1:
        images = F.avg_pool2d(torch.as_tensor(data.images), pool)
        out["images"] = images.numpy()
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(data.y))
        for key in ("images", "y", "confounder", "main_effect"):
            out[key] = out[key][order]
    return out


def orthogonal_reference(n=400_000, seed=0):
    """Best accuracy of a score linear in (mf, cf) and uncorrelated with cf.

    Orthogonalize makes the logits orthogonal to ``[1, cf]`` over the whole
    batch (Rügamer et al.'s guarantee, no label column): the best such linear score
    is ``mf - a cf`` with ``a = cov(mf, cf) / var(cf)`` (4/7), which uses
    ``-cf`` within each group. Monte Carlo over the generator's distribution.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    mf = 1 + 2 * y + rng.uniform(0, 3, n)
    cf = 1 + 2 * y + rng.uniform(0, 3, n)
    score = mf - np.cov(mf, cf)[0, 1] / cf.var(ddof=1) * cf
    cuts = np.quantile(score, np.linspace(0.01, 0.99, 981))
    return max(np.mean((score > c) == y) for c in cuts)


def _train_static(config, method, batch_size, train, image_size, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = ConfoundedCNN(method, image_size=image_size)
    metadata = torch.as_tensor(train.confounder, dtype=torch.float32)[:, None]
    target = torch.as_tensor(train.y, dtype=torch.float32)
    if "plan" in config:
        steps, lr = config["plan"][batch_size]
        steps = max(1, round(steps * config.get("steps_scale", 1.0)))
        trainer = Trainer(model, lr, total_steps=steps)
        trainer.set_kernels(metadata, target)
        trainer.run_steps(train, batch_size, steps, rng)
    else:
        trainer = Trainer(model, config["lr"], decay=config["decay"])
        trainer.set_kernels(metadata, target)
        for _ in range(config["epochs"]):
            trainer.epoch(train, batch_size, rng)
    return model


def run_static(config, methods, batch_sizes, seeds, log):
    results = {}
    for seed in seeds:
        train = _prepare(
            make_confounded_images(config["n_train"], random_state=seed),
            config["pool"],
        )
        test = _prepare(
            make_confounded_images(config["n_test"], random_state=seed + 1000),
            config["pool"],
            seed,
        )
        size = train.images.shape[-1]
        for batch_size in batch_sizes:
            for method in methods:
                start = time.perf_counter()
                model = _train_static(config, method, batch_size, train, size, seed)
                accuracy, dcors = evaluate(model, test, batch_size)
                results.setdefault((method, batch_size), []).append((accuracy, *dcors))
                log(
                    f"seed {seed} bs {batch_size:5d} {method:13s} acc {accuracy:.3f} "
                    f"dcor2 {dcors[0]:.3f}/{dcors[1]:.3f} "
                    f"({time.perf_counter() - start:.1f}s)"
                )
    return results


def _transfer_metrics(R, best):
    """ACCd, BWTd, FWTd: the R-MDN paper's metrics (eqs. 5-7, reconstructed).

    ``R[i, j]`` is the accuracy on stage ``j`` after training stage ``i``;
    ``best[j]`` the stage's best accuracy without the confounder.
    """
    T = len(best)
    dist = np.abs(R - best[None, :])
    acc_d = dist[T - 1].mean()
    bwt_d = np.mean([dist[T - 1, i] - dist[i, i] for i in range(T - 1)])
    fwt_d = np.mean([dist[i - 1, i] for i in range(1, T)])
    return acc_d, bwt_d, fwt_d


def run_continual(config, pool, seeds, shift, log):
    """Baseline and R-MDN over the 5 stages; R-MDN's state carries across.

    As the authors' code, each stage gets a fresh Adam and learning-rate
    schedule; the network and the R-MDN buffers carry on.
    """
    results = {}
    batch_size = config["batch_size"]
    for seed in seeds:
        stages = make_continual_confounded_images(
            config["n_train"], shift=shift, random_state=seed
        )
        stages = [_prepare(s, pool) for s in stages]
        tests = make_continual_confounded_images(
            config["n_test"], shift=shift, random_state=seed + 1000
        )
        tests = [_prepare(t, pool, seed) for t in tests]
        best = np.array([t.max_accuracy for t in tests])
        size = stages[0].images.shape[-1]
        for method in ("baseline", "rmdn"):
            start = time.perf_counter()
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            model = ConfoundedCNN(method, image_size=size)
            R = np.zeros((len(stages), len(stages)))
            dcors = np.zeros(len(stages))
            for i, stage in enumerate(stages):
                if "steps" in config:
                    trainer = Trainer(model, config["lr"], total_steps=config["steps"])
                    trainer.run_steps(stage, batch_size, config["steps"], rng)
                else:
                    trainer = Trainer(model, config["lr"], decay=config["decay"])
                    for _ in range(config["epochs"]):
                        trainer.epoch(stage, batch_size, rng)
                for j, test in enumerate(tests):
                    R[i, j], dc = evaluate(model, test, 250)
                    if j == i:
                        dcors[i] = np.mean(dc)
            metrics = _transfer_metrics(R, best)
            results.setdefault(method, []).append((R, metrics, dcors))
            log(
                f"continual seed {seed} {method:8s} final-stage acc "
                f"{np.round(R[-1], 3).tolist()} ACCd {metrics[0]:.3f} "
                f"BWTd {metrics[1]:.3f} FWTd {metrics[2]:.3f} "
                f"({time.perf_counter() - start:.1f}s)"
            )
    return results, best


#: The overhead table's extra row: P-MDN stepped as its authors do, with a second
#: forward pass for beta (``pmdn`` shares the task's pass since issue 33).
TWO_PASS = "pmdn (2 passes)"


def run_overhead(methods, batch_sizes, n_rounds, log):
    """Median time per training step on the papers' 32x32 images; methods
    interleaved step by step so that load from other processes hits all
    of them alike."""
    data = make_confounded_images(600, random_state=0)
    metadata = torch.as_tensor(data.confounder, dtype=torch.float32)[:, None]
    target = torch.as_tensor(data.y, dtype=torch.float32)
    per_step = {}
    for batch_size in batch_sizes:
        trainers = {}
        for method in methods:
            torch.manual_seed(0)
            two_pass = method == TWO_PASS
            model = ConfoundedCNN("pmdn" if two_pass else method)
            trainers[method] = Trainer(model, 1e-4, two_pass=two_pass)
            trainers[method].set_kernels(metadata, target)
        times = {method: [] for method in methods}
        rng = np.random.default_rng(0)
        for _ in range(n_rounds + 1):  # the first round warms up
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


def _mean_sd(values, scale=1.0, digits=3):
    values = scale * np.asarray(values, dtype=float)
    sd = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{np.nanmean(values):.{digits}f} ± {sd:.{digits}f}"


def _protocol(config, label, seeds):
    if "plan" in config:
        scale = config.get("steps_scale", 1.0)
        plan = ", ".join(
            f"bs {b}: {max(1, round(n * scale))} steps lr {lr:g}"
            for b, (n, lr) in config["plan"].items()
        )
        training = f"Adam, fixed steps with cosine decay to 1% ({plan})"
    else:
        training = (
            f"{config['epochs']} epochs, Adam lr {config['lr']} decayed "
            f"{config['decay'][1]}x every {config['decay'][0]} epochs"
        )
    size = 32 // config["pool"]
    return (
        f"Protocol: {label}: {size}x{size} images"
        + (" (the 32x32 ones mean-pooled 2x2)" if config["pool"] > 1 else "")
        + f", {2 * config['n_train']} training and {2 * config['n_test']} test "
        f"images; {training}; seeds {list(seeds)}; P-MDN beta lr 0.045 (same "
        "schedule); R-MDN delta 0.01, forgetting 0.999, process noise 1e-4."
    )


def report(config, label, static, continual, overhead, methods, batch_sizes, seeds):
    lines = [_protocol(config, label, seeds)]
    if static:
        lines += [
            "",
            "### Static: test accuracy % (83.3 = best without the confounder) and "
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
                accs.append(_mean_sd(rows[:, 0], 100, 1))
                dcors.append(_mean_sd(np.nanmean(rows[:, 1:], axis=1)))
            lines.append(f"| {method} | " + " | ".join(accs + dcors) + " |")
        lines += [
            "",
            f"Orthogonalize's own ceiling: {100 * orthogonal_reference():.1f}% "
            "(best score linear in (mf, cf) and uncorrelated with cf).",
            "",
            "### Beside the R-MDN paper's Table 7: |accuracy − 83.3| (points) and "
            "dcor² (group 0 / group 1); ours: mean over seeds",
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
        results, best = continual
        lines += [
            "",
            "### Continual (5 stages, dataset 1: confounder ranges move apart "
            f"0.125 per stage; best accuracy without the confounder "
            f"{np.round(best, 3).tolist()}): accuracy fractions, mean ± sd "
            "over seeds",
            "",
            "| method | accuracy on each stage after the last | dcor² on stage i "
            "after stage i | ACCd | BWTd | FWTd | paper ACCd | paper BWTd | "
            "paper FWTd |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for method, runs in results.items():
            final = np.mean([R[-1] for R, _, _ in runs], axis=0)
            dcors = np.mean([d for _, _, d in runs], axis=0)
            metrics = np.array([m for _, m, _ in runs])
            paper = PAPER_TABLE1[method]
            lines.append(
                f"| {method} | {np.round(final, 3).tolist()} | "
                f"{np.round(dcors, 3).tolist()} | "
                + " | ".join(_mean_sd(metrics[:, j]) for j in range(3))
                + f" | {paper[0]} | {paper[1]} | {paper[2]} |"
            )
    if overhead:
        sizes = sorted({b for _, b in overhead})
        lines += [
            "",
            "### Time per training step on the papers' 32x32 images, ratio to the "
            "BatchNorm CNN (same run, interleaved, median)",
            "",
            "| method | " + " | ".join(f"bs {b}" for b in sizes) + " |",
            "|---" * (1 + len(sizes)) + "|",
        ]
        order = [*METHODS, TWO_PASS]
        for method in sorted({m for m, _ in overhead}, key=order.index):
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
    parser.add_argument(
        "--steps-scale", type=float, default=1.0, help="multiply the light steps"
    )
    parser.add_argument("--continual-steps", type=int, help="light: steps per stage")
    parser.add_argument(
        "--continual-shift",
        default="confounder",
        choices=["confounder", "main", "both"],
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--overhead-rounds", type=int, default=3)
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
    if args.full:
        config, label = dict(FULL), "full (papers)"
    else:
        config, label = dict(LIGHT), "light default"
        config["continual"] = dict(config["continual"])
        if args.steps_scale != 1.0:
            config["steps_scale"] = args.steps_scale
            label += f", steps x{args.steps_scale:g}"
        if args.continual_steps:
            config["continual"]["steps"] = args.continual_steps
            label += f", {args.continual_steps} steps per stage"
        unknown = set(args.batch_sizes) - set(config["plan"])
        if unknown:
            parser.error(f"light runs have a plan for {sorted(config['plan'])} only")
    seeds = range(args.seeds)

    def log(message):
        print(message, flush=True)

    log(f"{label}: {config}; torch threads {torch.get_num_threads()}")
    start = time.perf_counter()
    static = None
    if not args.no_static:
        static = run_static(config, args.methods, args.batch_sizes, seeds, log)
    continual = None
    if not args.no_continual:
        continual = run_continual(
            config["continual"], config["pool"], seeds, args.continual_shift, log
        )
    overhead = None
    if not args.no_overhead:
        methods = args.methods + ([TWO_PASS] if "pmdn" in args.methods else [])
        overhead = run_overhead(methods, [16, 64, 256], args.overhead_rounds, log)
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
