"""Paths the command line reads and writes: local files only, written safely.

A URL given as a path is rejected before pandas sees it (pandas would fetch
it). Plots are written to a fresh temporary file in the target folder
(``mkstemp``: ``O_CREAT | O_EXCL``, so nothing planted there is opened) that
then replaces the target with ``os.replace``, which swaps a symlink at the
target instead of following it.
"""

import contextlib
import os
import re
import stat
import tempfile

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
#: Extensions matplotlib writes (the extension picks the format).
PLOT_FORMATS = (
    "eps", "jpeg", "jpg", "pdf", "pgf", "png", "ps", "raw", "rgba", "svg", "svgz",
    "tif", "tiff", "webp",
)  # fmt: skip


def check_local_path(path, what):
    """Return ``path`` as a string; raise ValueError if it is a URL.

    Examples
    --------
    >>> check_local_path("data/p.csv", "the CSV file")
    'data/p.csv'
    >>> check_local_path("https://example.org/p.csv", "the CSV file")
    Traceback (most recent call last):
    ...
    ValueError: the CSV file 'https://example.org/p.csv' is a URL; orthokit reads local files only (download it first).
    """  # noqa: E501
    text = os.fspath(path)
    if _URL.match(text):
        raise ValueError(
            f"{what} {text!r} is a URL; orthokit reads local files only "
            "(download it first)."
        )
    return text


#: What a path that is not a regular file is, by its ``stat`` mode test.
_KINDS = (
    (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def check_regular_file(path):
    """Raise ValueError unless ``path`` is an existing regular file.

    Checked with ``os.stat`` before anything opens the path: opening a FIFO
    with no writer, or a terminal, blocks. Links are followed.

    Examples
    --------
    >>> import os
    >>> check_regular_file(os.devnull)
    Traceback (most recent call last):
    ...
    ValueError: '/dev/null' is not a regular file (a character device); give a CSV file.
    """  # noqa: E501
    try:
        mode = os.stat(path).st_mode  # a PermissionError propagates
    except FileNotFoundError:
        raise ValueError(f"file {path!r} does not exist.") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path!r} is a directory, not a CSV file.")
    if not stat.S_ISREG(mode):
        kind = next((k for test, k in _KINDS if test(mode)), "a special file")
        raise ValueError(f"{path!r} is not a regular file ({kind}); give a CSV file.")


def check_plot_path(path, what="--plot"):
    """Check before any work that a figure can be written to ``path``.

    The path must be local, name a file (not a folder) in an existing
    folder, and end in an extension matplotlib writes (:data:`PLOT_FORMATS`);
    a path without one is an error rather than a guess.

    Returns
    -------
    str
        ``path`` as a string.

    Examples
    --------
    >>> import tempfile
    >>> check_plot_path(tempfile.gettempdir())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --plot '...' is a folder; name a file in it, e.g. '...plot.png'.
    """
    text = check_local_path(path, what)
    if os.path.isdir(text):
        raise ValueError(
            f"{what} {text!r} is a folder; name a file in it, e.g. "
            f"{os.path.join(text, 'plot.png')!r}."
        )
    extension = os.path.splitext(text)[1].lstrip(".").lower()
    if not extension:
        raise ValueError(
            f"{what} {text!r} has no extension, which picks the format; e.g. "
            f"{text + '.png'!r} (or .pdf, .svg)."
        )
    if extension not in PLOT_FORMATS:
        raise ValueError(
            f"{what} {text!r}: unknown plot format {extension!r}; use one of "
            f"{list(PLOT_FORMATS)}."
        )
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise ValueError(
            f"cannot write plot {text!r} ({what}): folder {folder!r} does not exist."
        )
    return text


def save_figure(figure, path, **savefig_kwargs):
    """Write a matplotlib figure to ``path`` without following links there.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    path : str or path-like
        Checked by :func:`check_plot_path`.
    **savefig_kwargs
        Passed to ``figure.savefig``.

    Returns
    -------
    str
        The path written.
    """
    path = check_plot_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    extension = os.path.splitext(path)[1]
    descriptor, temporary = tempfile.mkstemp(
        prefix=".orthokit-", suffix=extension, dir=folder
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            figure.savefig(handle, format=extension[1:].lower(), **savefig_kwargs)
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's 0600 is for secrets
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path
