"""Logic of the ``orthokit audit`` command (``cli.py`` only wires it).

Exit codes: 0 when every protected coefficient passes, 1 when one fails (or
the protected columns separate the predictions perfectly), 2 on bad input.
"""

import sys

import pandas as pd

from orthokit.evaluation._glm import FAMILIES, PerfectSeparationError
from orthokit.evaluation._glm import check_orthogonality as _check

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


def add_audit_parser(subparsers):
    """Define the ``audit`` subcommand on an argparse ``subparsers`` object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.

    Returns
    -------
    parser : argparse.ArgumentParser
        The subcommand's parser; its ``handler`` default is :func:`audit_main`.
    """
    parser = subparsers.add_parser(
        "audit",
        help="Test whether a model's predictions are free of protected columns.",
        description=(
            "Fit the evaluation GLM of the predictions on the protected columns "
            "and print coefficient (p-value) per protected column. Exit status: 0 "
            "all pass, 1 one fails, 2 bad input."
        ),
    )
    parser.add_argument("csv", help="CSV file with predictions and protected columns.")
    parser.add_argument(
        "--protected",
        required=True,
        help="Comma-separated names of the protected columns, e.g. sex,race.",
    )
    parser.add_argument(
        "--prediction-column",
        default=None,
        help="Column holding the predictions (default: the only other column).",
    )
    parser.add_argument(
        "--family",
        choices=FAMILIES,
        default=None,
        help="Family of the evaluation GLM (default: inferred).",
    )
    parser.add_argument(
        "--scale",
        choices=("response", "link"),
        default="response",
        help="Scale of the predictions.",
    )
    parser.add_argument("--alpha", type=float, default=0.05, help="Significance level.")
    parser.add_argument("--plot", default=None, help="Write a coefficient plot here.")
    parser.set_defaults(handler=audit_main)
    return parser


def _read(args):
    """Return ``(predictions, protected frame)`` or raise ValueError."""
    try:
        frame = pd.read_csv(args.csv)
    except FileNotFoundError:
        raise ValueError(f"file {args.csv!r} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"{args.csv!r} is a directory, not a CSV file.") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"file {args.csv!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"file {args.csv!r} is not a readable CSV file: {exc}"
        ) from None
    if frame.empty:
        raise ValueError(f"file {args.csv!r} has a header but no rows.")
    # pandas renames a repeated header ("p", "p.1"); an audit must not pick one.
    header = [str(c) for c in pd.read_csv(args.csv, header=None, nrows=1).iloc[0]]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ValueError(f"file {args.csv!r} has duplicated column names {repeated}.")
    protected = [c.strip() for c in args.protected.split(",") if c.strip()]
    if not protected:
        raise ValueError("--protected must name at least one column.")
    columns = [str(c) for c in frame.columns]
    missing = [c for c in protected if c not in columns]
    if missing:
        raise ValueError(
            f"protected column(s) {missing} not in {args.csv!r}; its columns are "
            f"{columns}."
        )
    if args.prediction_column is None:
        others = [c for c in columns if c not in protected]
        if len(others) != 1:
            raise ValueError(
                f"{args.csv!r} has {len(others)} non-protected columns {others}; name "
                "the predictions with --prediction-column."
            )
        prediction = others[0]
    else:
        prediction = args.prediction_column
        if prediction not in columns:
            raise ValueError(
                f"prediction column {prediction!r} not in {args.csv!r}; its columns "
                f"are {columns}."
            )
        if prediction in protected:
            raise ValueError(
                f"column {prediction!r} cannot be predictions and protected."
            )
    predictions = frame[prediction]
    if not pd.api.types.is_numeric_dtype(predictions) or pd.api.types.is_bool_dtype(
        predictions
    ):
        raise ValueError(
            f"prediction column {prediction!r} is not numeric (dtype "
            f"{predictions.dtype}); e.g. value {predictions.iloc[0]!r}."
        )
    return predictions, frame[protected]


def audit_main(args):
    """Run ``orthokit audit`` on parsed arguments; return the exit code.

    Parameters
    ----------
    args : argparse.Namespace
        As defined by :func:`add_audit_parser`.

    Returns
    -------
    int
        0 when every protected coefficient passes, 1 when one fails, 2 on bad
        input (the message goes to stderr).

    Examples
    --------
    >>> import argparse, tempfile, os
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> pd.DataFrame({"p": rng.uniform(size=300), "sex": rng.choice(["F", "M"], 300)}
    ...              ).to_csv(path, index=False)
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_audit_parser(parser.add_subparsers())
    >>> code = audit_main(parser.parse_args(["audit", path, "--protected", "sex"]))
    ... # doctest: +ELLIPSIS
    Evaluation model: binomial GLM (logit link, inferred), ...
    term   p
    sex_M  ...
    Verdict: PASS ...
    >>> code
    0
    """
    try:
        predictions, protected = _read(args)
        report = _check(
            predictions,
            protected,
            family=args.family,
            scale=args.scale,
            alpha=args.alpha,
        )
    except PerfectSeparationError as exc:
        print(f"orthokit audit: FAIL: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except (ValueError, TypeError) as exc:
        print(f"orthokit audit: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(report)
    if args.plot is not None:
        import matplotlib

        matplotlib.use("Agg")
        ax = report.plot(labels=[str(predictions.name)])
        try:
            ax.figure.savefig(args.plot, bbox_inches="tight")
        except (OSError, ValueError) as exc:
            print(f"orthokit audit: error: cannot write plot: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return EXIT_PASS if report.passed else EXIT_FAIL
