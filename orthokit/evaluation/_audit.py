"""The audit of a CSV of predictions (``orthokit audit``; ``cli.py`` wires it).

Reading follows ``keep_default_na=False``: only an empty cell is a missing
value, so level strings such as ``"NA"`` and ``"None"`` stay levels. Rows are
counted from 1 (the first row under the header, line 2 of the file). Hints
name the command's flags.
"""

import csv
import dataclasses
import gzip
import io
import re
import warnings

import numpy as np
import pandas as pd

from orthokit._files import check_local_path, check_regular_file
from orthokit._inputs import shown
from orthokit._inputs._paired import read_outputs
from orthokit._optional import require
from orthokit.evaluation._glm import PerfectSeparationError, check_orthogonality

#: Share of predictions inside the domain of a family above which values
#: outside it are taken for errors, not for a different family.
_AMBIGUOUS_SHARE = 0.9
_FLAG_HINT = re.compile(
    r"\b(scale|family|alpha|categorical)=\[?['\"]?([\w.]+)['\"]?\]?"
)
_ROW = re.compile(r"\brow (\d+)\b")


@dataclasses.dataclass
class AuditResult:
    """What :func:`audit_csv` found.

    ``report`` is the :class:`OrthogonalityReport`; ``reference_levels`` maps
    each categorical protected column to its dropped (reference) level;
    ``warnings`` are warnings for the user (e.g. integer-coded categories);
    ``family_note`` says which family was inferred and why (empty when the
    family was given).
    """

    report: object
    prediction: str
    reference_levels: dict
    warnings: list
    family_note: str = ""


def _line(row):
    return f"row {row + 1} (line {row + 2} of the file)"


def _read_frame(path):
    """Read a local table: CSV or TSV (delimiter sniffed), gzipped, or Parquet."""
    path = check_local_path(path, "the CSV file")
    check_regular_file(path)  # before open: a FIFO with no writer blocks open
    lower = path.lower()
    if lower.endswith(".parquet"):
        require("pyarrow", "reading Parquet files", "dev")
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow's errors have no common base
            raise ValueError(
                f"file {path!r} is not a readable Parquet file: {exc}"
            ) from None
        if frame.empty:
            raise ValueError(f"file {path!r} has no rows.")
        frame.columns = [str(c) for c in frame.columns]
        return path, frame.reset_index(drop=True)
    with open(path, "rb") as handle:  # a PermissionError propagates
        content = handle.read()
    if lower.endswith(".gz"):
        try:
            content = gzip.decompress(content)
        except (OSError, EOFError) as exc:
            raise ValueError(f"file {path!r} is not a gzip file: {exc}") from None
    options = {"keep_default_na": False, "na_values": [""], "sep": _delimiter(content)}
    try:
        frame = pd.read_csv(io.BytesIO(content), **options)
        header = pd.read_csv(io.BytesIO(content), header=None, nrows=1, **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"file {path!r} is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"file {path!r} is not a readable CSV file: {exc}") from None
    if frame.empty:
        raise ValueError(f"file {path!r} has a header but no rows.")
    # pandas renames a repeated header ("p", "p.1"); an audit must not pick one.
    names = [str(c) for c in header.iloc[0]]
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise ValueError(f"file {path!r} has duplicated column names {repeated}.")
    frame.columns = [str(c) for c in frame.columns]
    return path, frame


def _delimiter(content):
    """Return the delimiter of a delimited text file, from its header line.

    Commas, tabs, semicolons and pipes are tried (``csv.Sniffer``); a header
    of one column (no delimiter at all) reads as comma-separated.
    """
    header = content[:65536].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        return csv.Sniffer().sniff(header, delimiters=",\t;|").delimiter
    except csv.Error:
        return ","


def split_names(text, flag, *, required=False, columns=()):
    """Split a flag's comma-separated names; refuse empty and repeated names.

    Parameters
    ----------
    text : str or None
        The flag's value. A name is matched exactly against ``columns`` first
        (a column may begin or end with spaces), else with the spaces around
        it removed.
    flag : str
        The flag, for the messages.
    required : bool, default=False
        Whether an empty value is an error (else it gives no names).
    columns : sequence of str, default=()
        The file's columns.

    Returns
    -------
    list of str

    Examples
    --------
    >>> split_names(" sex, race", "--protected")
    ['sex', 'race']
    >>> split_names("sex,,race", "--protected")
    Traceback (most recent call last):
    ...
    ValueError: --protected 'sex,,race' has an empty name (name 2); separate names with single commas.
    >>> split_names("sex,sex", "--protected")
    Traceback (most recent call last):
    ...
    ValueError: --protected names 'sex' twice.
    """  # noqa: E501
    names = [c if c in columns else c.strip() for c in (text or "").split(",")]
    if names == [""]:
        if required:
            raise ValueError(f"{flag} must name at least one column.")
        return []
    if "" in names:
        raise ValueError(
            f"{flag} {text!r} has an empty name (name {names.index('') + 1}); "
            "separate names with single commas."
        )
    repeated = [n for i, n in enumerate(names) if n in names[:i]]
    if repeated:
        raise ValueError(f"{flag} names {repeated[0]!r} twice.")
    return names


def _prediction_column(frame, path, protected, prediction):
    columns = list(frame.columns)
    if prediction is None:
        others = [c for c in columns if c not in protected]
        if len(others) != 1:
            raise ValueError(
                f"{path!r} has {len(others)} non-protected columns {others}; name "
                "the predictions with --prediction-column."
            )
        return others[0]
    if prediction not in columns:
        raise ValueError(
            f"prediction column {prediction!r} not in {path!r}; its columns are "
            f"{columns}."
        )
    if prediction in protected:
        raise ValueError(f"column {prediction!r} cannot be predictions and protected.")
    return prediction


def _check_inferable(values, name):
    """Refuse to infer a family that a few stray values would decide."""
    inside = (values >= 0) & (values <= 1)
    integer = (values >= 0) & (values == np.round(values))
    for domain, family in ((inside, "binomial"), (integer, "poisson")):
        if not domain.all() and domain.mean() >= _AMBIGUOUS_SHARE:
            first = int(np.flatnonzero(~domain)[0])
            raise ValueError(
                f"cannot infer the family of {name!r}: {int(domain.sum())} of "
                f"{len(values)} values fit --family {family}, but {_line(first)} is "
                f"{values[first]:.6g} ({int((~domain).sum())} value(s) do not). Fix "
                f"those rows, or choose the evaluation model with --family "
                "(e.g. --family gaussian), or --scale link for link-scale values."
            )


def read_audit_csv(path, protected, *, prediction_column=None, categorical=None):
    """Read the predictions and protected columns of an audit file.

    Only the file and its flags are checked here; the values are read by the
    evaluation functions' input layer (see :func:`audit_csv`).

    Parameters
    ----------
    path : str or path-like
        A local CSV file (URLs are refused, never fetched).
    protected : str
        Comma-separated names of the protected columns.
    prediction_column : str, optional
        The predictions; by default the only other column.
    categorical : str, optional
        Comma-separated protected columns to treat as categorical even when
        numeric (integer-coded levels); levels in numeric order, the first
        the reference.

    Returns
    -------
    predictions : Series
    protected : DataFrame
    categorical : list of str or None
    """
    path, frame = _read_frame(path)
    columns = list(frame.columns)
    protected = split_names(protected, "--protected", required=True, columns=columns)
    categorical = split_names(categorical, "--categorical", columns=columns)
    unknown = [c for c in categorical if c not in protected]
    if unknown:
        raise ValueError(
            f"--categorical column(s) {unknown} are not among the --protected "
            f"columns {protected}."
        )
    missing = [c for c in protected if c not in columns]
    if missing:
        raise ValueError(
            f"protected column(s) {missing} not in {path!r}; its columns are "
            f"{shown(columns)}."
        )
    name = _prediction_column(frame, path, protected, prediction_column)
    return frame[name], frame[protected], categorical or None


def _for_the_command(message):
    """Say a library message in the command's terms.

    Hints in Python syntax become flags, and rows (counted from 0) are counted
    from 1 with their line in the file.

    Examples
    --------
    >>> _for_the_command("pass categorical=['race'] (first in row 0)")
    'pass --categorical race (first in row 1 (line 2 of the file))'
    """
    message = _FLAG_HINT.sub(r"--\1 \2", message)
    return _ROW.sub(lambda match: _line(int(match.group(1))), message)


def audit_csv(
    path,
    protected,
    *,
    prediction_column=None,
    categorical=None,
    family=None,
    scale="response",
    alpha=0.05,
):
    """Fit the evaluation model of a CSV's predictions on its protected columns.

    Parameters are those of :func:`read_audit_csv` and
    :func:`~orthokit.evaluation.check_orthogonality`. An inferred family must
    be unambiguous: when most values are probabilities (or counts) and a few
    are not, this is an error naming the first such row.

    Returns
    -------
    AuditResult

    Raises
    ------
    PerfectSeparationError
        When the protected columns determine the predictions.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> path = os.path.join(tempfile.mkdtemp(), "p.csv")
    >>> pd.DataFrame({"p": rng.uniform(size=300), "sex": rng.choice(["F", "M"], 300)}
    ...              ).to_csv(path, index=False)
    >>> result = audit_csv(path, "sex")
    >>> result.report.passed, result.reference_levels
    (True, {'sex': 'F'})
    """
    predictions, protected_frame, categorical = read_audit_csv(
        path, protected, prediction_column=prediction_column, categorical=categorical
    )
    name = str(predictions.name)
    try:
        values = read_outputs(predictions, argument="predictions")[0][:, 0]
    except (TypeError, ValueError) as exc:
        raise ValueError(_for_the_command(str(exc))) from None
    if family is None and scale == "response":
        _check_inferable(values, name)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report = check_orthogonality(
                predictions,
                protected_frame,
                family=family,
                scale=scale,
                alpha=alpha,
                categorical=categorical,
            )
        except PerfectSeparationError:
            raise
        except (TypeError, ValueError) as exc:
            raise ValueError(_for_the_command(str(exc))) from None
    notes = [_for_the_command(str(w.message)) for w in caught]
    note = ""
    if family is None and scale == "response":
        note = _inference_note(values, report.family)
    return AuditResult(report, name, report.reference_levels, notes, note)


def _inference_note(values, family):
    """Say which family was inferred and why, with a hint where it may be wrong.

    Examples
    --------
    >>> _inference_note(np.array([3.0, 55.0, 97.5]), "gaussian")  # doctest: +ELLIPSIS
    "family 'gaussian' inferred: ... percentages (0-100)? ..."
    """
    low, high = float(values.min()), float(values.max())
    reasons = {
        "binomial": "every value is in [0, 1] (probabilities)",
        "poisson": "every value is a non-negative integer (counts)",
        "gaussian": f"the values (from {low:.4g} to {high:.4g}) are neither all in "
        "[0, 1] nor all counts",
    }
    note = f"family {family!r} inferred: {reasons[family]}"
    if family == "gaussian" and 0 <= low and 1 < high <= 100:
        note += (
            "; are they percentages (0-100)? Divide them by 100 for the binomial "
            "model of probabilities"
        )
    elif family == "gaussian" and low < 0 < high and max(-low, high) <= 50:
        note += (
            "; are they logits (log-odds)? Then the binomial model's link scale "
            "applies: --scale link (a linear model of the logits)"
        )
    return note + ". Choose with --family and --scale."
