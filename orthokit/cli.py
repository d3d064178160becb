"""The ``orthokit`` command: wiring only; the work lives in the library.

Exit status of every subcommand, a contract: 0 pass (or done), 1 fail (the
audit found a protected effect), 2 anything else (bad arguments or input, a
missing optional dependency, an unreadable file, a URL given as a path, out of
memory, a benchmark fit that failed), with one message on stderr and no
traceback.
"""

import argparse
import datetime
import os
import sys

from orthokit import __version__

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
SCALES = ("response", "link")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show each flag's default, unless its help already says it (or it is a switch)."""

    def _get_help_string(self, action):
        if (
            action.default is None
            or isinstance(action.default, bool)
            or "default" in (action.help or "")
        ):
            return action.help
        return super()._get_help_string(action)


def _integer(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise ValueError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _run_demo(args):
    from orthokit._demo import run_demo

    return run_demo(plot=args.plot)


def _run_audit(args):
    from orthokit._files import check_plot_path, save_figure
    from orthokit._optional import require
    from orthokit.evaluation._audit import audit_csv
    from orthokit.evaluation._glm import PerfectSeparationError

    if args.plot is not None:  # checked before the work
        check_plot_path(args.plot)
        require("matplotlib", "--plot", "plot")
    try:
        result = audit_csv(
            args.csv,
            args.protected,
            prediction_column=args.prediction_column,
            categorical=args.categorical,
            family=args.family,
            scale=args.scale,
            alpha=args.alpha,
        )
    except PerfectSeparationError as exc:
        print(f"orthokit audit: FAIL: {exc}", file=sys.stderr)
        return EXIT_FAIL
    for warning in result.warnings:
        print(f"orthokit audit: warning: {warning}", file=sys.stderr)
    print(result.report)
    if result.family_note:
        print(result.family_note[0].upper() + result.family_note[1:])
    if result.reference_levels:
        levels = ", ".join(
            f"{k} = {str(v)!r}" for k, v in result.reference_levels.items()
        )
        print(f"Reference levels (each term compares a level with it): {levels}")
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from orthokit.evaluation import OrthogonalityDisplay

        display = OrthogonalityDisplay.from_report(
            result.report,
            labels=[f"{result.prediction} ({os.path.basename(args.csv)})"],
            reference_levels=result.reference_levels,
        )
        display.ax_.set_title(
            f"orthokit audit of {result.prediction!r}: "
            f"{'PASS' if result.report.passed else 'FAIL'}"
        )
        save_figure(display.figure_, args.plot, bbox_inches="tight")
        plt.close(display.figure_)
        print(f"Coefficient plot: {args.plot}")
    return EXIT_PASS if result.report.passed else EXIT_FAIL


def _run_bench(args):
    from orthokit import _bench
    from orthokit._files import check_local_path
    from orthokit.evaluation._audit import split_names

    if args.scheduler and args.backend != "dask":
        raise ValueError("--scheduler needs --backend dask.")
    check_local_path(args.out, "--out")
    datasets = split_names(args.datasets, "--datasets")
    methods = None
    keys = split_names(args.methods, "--methods")
    if keys:
        unknown = [k for k in keys if k not in _bench.METHOD_KEYS]
        if unknown:
            raise ValueError(
                f"--methods: unknown {unknown}; choose from {list(_bench.METHOD_KEYS)}."
            )
        methods = [_bench.METHOD_KEYS[k] for k in keys]
    missing = _bench.missing_packages(methods or _bench.METHODS)
    if missing:
        print(
            f"orthokit bench: notice: skipping {list(missing)}: "
            f"{', '.join(sorted(set(missing.values())))} is not installed.",
            file=sys.stderr,
        )
        methods = [m for m in methods or _bench.METHODS if m not in missing]
        if not methods:
            raise ValueError("no method left to run.")
    rows = _bench.run_suite(
        args.suite,
        datasets=datasets or None,
        methods=methods,
        folds=args.folds,
        repeats=args.repeats,
        n_jobs=args.n_jobs,
        quick=args.quick,
        backend=args.backend,
        scheduler=args.scheduler,
        eg_max_rows=args.eg_max_rows,
        progress=not args.no_progress,
    )
    settings = (
        f"`orthokit {' '.join(args.argv)}` on {datetime.date.today()}; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}. "
        f"Held-out metrics, mean over the folds that ran of {args.folds * args.repeats}"
        " (column folds); coefficient cells: mean held-out evaluation coefficient "
        "(median p-value)."
    )
    paths = _bench.write_results(rows, args.out, settings=settings)
    columns = ["dataset", "method", "accuracy", "auc", "fit s", "max |coef|", "folds"]
    import pandas as pd

    with pd.option_context("display.float_format", "{:.3f}".format):
        print(_bench.summarize(rows)[columns].to_string(index=False))
    for dataset in dict.fromkeys(rows["dataset"]):
        print(_bench.fold_sizes(rows, dataset))
    print("\nwrote " + ", ".join(paths.values()))
    failed = rows[rows["status"] != "ok"]
    if len(failed):
        first = failed.iloc[0]
        raise ValueError(
            f"{len(failed)} of {len(rows)} fits failed and are left out of the means "
            f"(first: {first['dataset']}, {first['method']}, repeat {first['repeat']}"
            f" fold {first['fold']}: {first['error']}); see {paths['markdown']}."
        )
    return EXIT_PASS


def _add_demo(commands):
    demo = commands.add_parser(
        "demo",
        help="Show the correction on the shipped Adult data.",
        description=(
            "On the UCI Adult data shipped with orthokit: how much the features "
            "leak sex and race before and after OrthogonalProjector, and the "
            "papers' evaluation model of an income model's held-out predictions "
            "(uncorrected, projected, OrthogonalLogisticRegression), with a "
            "before/after coefficient plot."
        ),
        formatter_class=_HelpFormatter,
    )
    demo.add_argument(
        "--plot",
        default=None,
        metavar="PATH",
        help="Write the plot here; the extension picks the format (default: "
        "orthokit-demo.png in the working directory, skipped with a notice "
        "if matplotlib is missing).",
    )
    demo.set_defaults(handler=_run_demo)


def _add_audit(commands):
    from orthokit.evaluation._glm import FAMILIES

    audit = commands.add_parser(
        "audit",
        help="Test whether a model's predictions are free of protected columns.",
        description=(
            "Fit the evaluation GLM of the predictions on the protected columns "
            "and print coefficient (p-value) per protected column. Only empty "
            "cells are missing values ('NA' and 'None' are levels); rows are "
            "counted from 1. Exit status: 0 all pass, 1 one fails, 2 anything "
            "else (bad input, missing dependency, unreadable file)."
        ),
        formatter_class=_HelpFormatter,
    )
    audit.add_argument(
        "csv", help="Local CSV file of predictions and protected columns."
    )
    audit.add_argument(
        "--protected",
        required=True,
        help="Comma-separated names of the protected columns, e.g. sex,race.",
    )
    audit.add_argument(
        "--categorical",
        default=None,
        help="Comma-separated protected columns coded as numbers that are "
        "categories (e.g. race coded 1/2/3); levels in numeric order, the "
        "first the reference (default: numeric columns are one linear term).",
    )
    audit.add_argument(
        "--prediction-column",
        default=None,
        help="Column holding the predictions (default: the only other column).",
    )
    audit.add_argument(
        "--family",
        choices=FAMILIES,
        default=None,
        help="Family of the evaluation GLM (default: inferred; binomial for "
        "values in [0, 1], poisson for counts, else gaussian).",
    )
    audit.add_argument(
        "--scale", choices=SCALES, default="response", help="Scale of the predictions."
    )
    audit.add_argument("--alpha", type=float, default=0.05, help="Significance level.")
    audit.add_argument(
        "--plot", default=None, metavar="PATH", help="Write a coefficient plot here."
    )
    audit.set_defaults(handler=_run_audit)


def _add_bench(commands):
    from orthokit import _bench

    bench = commands.add_parser(
        "bench",
        help="Cross-validated benchmark of the corrections (tables and plots).",
        description=(
            "Run methods x data sets x repeated k-fold (stratified by protected "
            "group and label) through joblib and write suite.md, suite.csv, "
            "folds.csv and tradeoff.png to --out. Rows that need fairlearn are "
            "skipped, with a notice, when it is not installed. A fit that fails "
            "is marked failed in every output and left out of the means; the "
            "exit status is then 2."
        ),
        formatter_class=_HelpFormatter,
    )
    suites = "; ".join(f"{k}: {', '.join(v)}" for k, v in _bench.SUITES.items())
    bench.add_argument(
        "--suite",
        choices=tuple(_bench.SUITES),
        default="fairness",
        help=f"Which data sets ({suites}).",
    )
    bench.add_argument(
        "--datasets",
        default=None,
        help="Comma-separated data sets, overriding --suite (default: the suite's).",
    )
    keys = "; ".join(f"{k} = {v}" for k, v in _bench.METHOD_KEYS.items())
    bench.add_argument(
        "--methods",
        default=None,
        help=f"Comma-separated method keys, e.g. lr,oglm (default: all). Keys: {keys}.",
    )
    bench.add_argument("--folds", type=_integer(2), default=5, help="k of k-fold.")
    bench.add_argument(
        "--repeats",
        type=_integer(1),
        default=2,
        help="Repetitions of k-fold, each with new folds.",
    )
    bench.add_argument(
        "--n-jobs", type=int, default=1, help="joblib workers (-1: all cores)."
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="Subsampled data sets, stratified by protected group and label (a "
        "smoke run; small folds, so noisy coefficients).",
    )
    bench.add_argument("--out", default="orthokit-bench", help="Output folder.")
    bench.add_argument(
        "--backend",
        choices=("loky", "dask"),
        default="loky",
        help="joblib backend: local processes, or a dask.distributed cluster.",
    )
    bench.add_argument(
        "--scheduler",
        default=None,
        help="dask scheduler address, e.g. tcp://host:8786 (default: a LocalCluster "
        "with --n-jobs workers).",
    )
    bench.add_argument(
        "--eg-max-rows",
        type=_integer(10),
        default=None,
        help="Fit ExponentiatedGradient on at most this many training rows "
        "(default: all; 1000 with --quick).",
    )
    bench.add_argument(
        "--no-progress", action="store_true", help="No progress bar on stderr."
    )
    bench.set_defaults(handler=_run_bench)


def build_parser():
    """Return the argument parser of the ``orthokit`` command."""
    parser = argparse.ArgumentParser(
        prog="orthokit",
        description="Remove and audit the influence of protected attributes.",
        epilog="Exit status: 0 pass, 1 fail (audit), 2 anything else.",
        formatter_class=_HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _add_demo(commands)
    _add_audit(commands)
    _add_bench(commands)
    return parser


def _message(exc):
    """One line for an exception the command cannot recover from."""
    if isinstance(exc, MemoryError):
        return "out of memory (too many rows, columns or levels for this machine)."
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename!r}."
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename!r}."
    if isinstance(exc, ImportError | ValueError | TypeError | OSError):
        return str(exc)
    return f"unexpected {type(exc).__name__}: {exc} (please report this)."


def main(argv=None):
    """Run the ``orthokit`` command; return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 pass, 1 fail, 2 anything else (the message goes to stderr).
        Usage errors, ``--help`` and ``--version`` exit through argparse's
        ``SystemExit`` (2, 0 and 0).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"orthokit {args.command}: interrupted.", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # the contract: one line and 2, never a traceback
        print(f"orthokit {args.command}: error: {_message(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
