"""Synthetic confounded images of MDN, P-MDN, R-MDN (docs/user_guide/torch_layers.rst).

The generator follows the authors' code (Lu et al.'s ``generate_data``, reused
by P-MDN and R-MDN): 16x16 kernels from the ``gkern(16, nsig=5)`` recipe (the
square root of the outer product of a discretized normal profile spanning
+-5 standard deviations, normalized to sum 1: a bell with a standard deviation
of about 2 pixels and a peak of 0.032), scaled by the main effect or the
confounder, plus ``N(0, 0.01)`` pixel noise. Pixels are therefore small
(kernel peaks 0.03 to 0.19, noise 0.01), as in the papers; the authors feed
them to the network unscaled.
"""

import numpy as np
from scipy.stats import norm
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_confounded_images", "make_continual_confounded_images"]

_SHIFTS = ("confounder", "main", "both")


def _gaussian_kernel(size=16, nsig=5):
    """Return the authors' ``gkern``: a normalised 2-D Gaussian, ``size`` pixels."""
    interval = (2 * nsig + 1.0) / size
    edges = np.linspace(-nsig - interval / 2.0, nsig + interval / 2.0, size + 1)
    profile = np.diff(norm.cdf(edges))
    kernel = np.sqrt(np.outer(profile, profile))
    return kernel / kernel.sum()


def _overlap_accuracy(range0, range1):
    """Best accuracy telling ``U(range0)`` from ``U(range1)`` (equal widths)."""
    width = range0[1] - range0[0]
    overlap = max(0.0, min(range0[1], range1[1]) - max(range0[0], range1[0]))
    return float(1.0 - 0.5 * overlap / width)


def _images(main, confounder, rng, noise):
    n = len(main)
    kernel = _gaussian_kernel().astype(np.float32)
    images = np.zeros((n, 1, 32, 32), dtype=np.float32)
    # Quadrants 2 and 4 (the diagonal) carry the main effect, quadrant 3 the
    # confounder, as in Lu et al.'s generator.
    images[:, 0, :16, :16] = main[:, None, None] * kernel
    images[:, 0, 16:, 16:] = main[:, None, None] * kernel
    images[:, 0, 16:, :16] = confounder[:, None, None] * kernel
    images += rng.normal(0.0, noise, size=images.shape).astype(np.float32)
    return images


def _generate(n_per_group, main_ranges, confounder_ranges, noise, rng):
    """``*_ranges``: ``((low0, high0), (low1, high1))``, one per group."""
    y = np.repeat([0, 1], n_per_group)
    values = []
    for ranges in (main_ranges, confounder_ranges):
        ranges = np.asarray(ranges, dtype=float)[y]
        values.append(rng.uniform(ranges[:, 0], ranges[:, 1]))
    main, confounder = values
    return Bunch(
        images=_images(main, confounder, rng, noise),
        y=y,
        confounder=confounder,
        main_effect=main,
        max_accuracy=_overlap_accuracy(*main_ranges),
    )


def make_confounded_images(n_per_group=1000, *, noise=0.01, random_state=None):
    """Generate the two-group confounded images of Lu et al. (2021).

    32x32 images with a 16x16 Gaussian kernel (the authors' ``gkern(16,
    nsig=5)``, summing to 1) in quadrants 2 and 4 scaled by the main effect
    ``mf`` and one in quadrant 3 scaled by the confounder ``cf``, plus
    ``N(0, noise)`` pixel noise. Group 0 draws ``mf, cf ~ U(1, 4)``, group 1
    ``U(3, 6)``. A classifier using only ``mf`` reaches at most 83.3%
    accuracy; more means it uses the confounder. Pixel values are on the
    authors' scale: kernel peaks 0.03 to 0.19.

    Parameters
    ----------
    n_per_group : int, default=1000
        Images per group.
    noise : float, default=0.01
        Standard deviation of the pixel noise.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    Bunch
        ``images`` (float32, shape ``(2 n, 1, 32, 32)``), ``y`` (group, 0 then
        1), ``confounder``, ``main_effect`` (shape ``(2 n,)``) and
        ``max_accuracy`` (5/6: the best accuracy without the confounder).

    Examples
    --------
    >>> from orthokit.datasets import make_confounded_images
    >>> data = make_confounded_images(10, random_state=0)
    >>> data.images.shape, data.y.tolist().count(1), round(data.max_accuracy, 4)
    ((20, 1, 32, 32), 10, 0.8333)
    """
    _check_count(n_per_group)
    rng = check_random_state(random_state)
    ranges = ((1.0, 4.0), (3.0, 6.0))
    return _generate(n_per_group, ranges, ranges, noise, rng)


def make_continual_confounded_images(
    n_per_group=1000,
    *,
    n_stages=5,
    shift="confounder",
    step=0.125,
    ranges=((3.0, 5.0), (4.0, 6.0)),
    noise=0.01,
    random_state=None,
):
    """Generate the continual variant of R-MDN (R-MDN paper, Suppl. E.1).

    Stage 0 draws ``mf`` and ``cf`` from ``U(ranges[0])`` for group 0 and
    ``U(ranges[1])`` for group 1; the default ``U(3, 5)`` and ``U(4, 6)`` are
    those of the R-MDN authors' code (the paper's text lost them), which make
    the best accuracy without the confounder 75%. Stage ``s`` (0-based) moves
    the groups' confounder ranges apart by ``s * step`` each
    (``shift="confounder"``: group 0 down, group 1 up), the main-effect ranges
    together (``shift="main"``: group 0 up, group 1 down), or both.

    Parameters
    ----------
    n_per_group : int, default=1000
        Images per group and stage.
    n_stages : int, default=5
    shift : {"confounder", "main", "both"}, default="confounder"
        Which distribution changes across stages (the paper's datasets 1-3).
    step : float, default=0.125
        Shift of each range per stage.
    ranges : pair of (low, high), default=((3.0, 5.0), (4.0, 6.0))
        Stage-0 range of ``mf`` and ``cf`` for group 0 and group 1, of equal
        widths; ``((1, 4), (3, 6))`` gives the static images' ranges.
    noise : float, default=0.01
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    list of Bunch
        One per stage, as :func:`make_confounded_images`, with the stage's
        ``max_accuracy`` (the best accuracy from the main effect alone).

    Examples
    --------
    >>> from orthokit.datasets import make_continual_confounded_images
    >>> stages = make_continual_confounded_images(5, shift="main", random_state=0)
    >>> [round(s.max_accuracy, 4) for s in stages]
    [0.75, 0.6875, 0.625, 0.5625, 0.5]
    """
    _check_count(n_per_group)
    if not isinstance(n_stages, int) or n_stages < 1:
        raise ValueError(f"n_stages must be an int >= 1, got {n_stages!r}.")
    if shift not in _SHIFTS:
        raise ValueError(f"shift must be one of {_SHIFTS}, got {shift!r}.")
    base = _check_ranges(ranges)
    rng = check_random_state(random_state)
    stages = []
    for s in range(n_stages):
        move_main = step * s if shift in ("main", "both") else 0.0
        move_confounder = step * s if shift in ("confounder", "both") else 0.0
        main = base + np.array([[move_main], [-move_main]])
        confounder = base + np.array([[-move_confounder], [move_confounder]])
        stages.append(
            _generate(n_per_group, tuple(map(tuple, main)), confounder, noise, rng)
        )
    return stages


def _check_ranges(ranges):
    base = np.asarray(ranges, dtype=float)
    if (
        base.shape != (2, 2)
        or not np.isfinite(base).all()
        or not (base[:, 1] > base[:, 0]).all()
        or not np.isclose(base[0, 1] - base[0, 0], base[1, 1] - base[1, 0])
    ):
        raise ValueError(
            "ranges must be two (low, high) pairs with low < high and equal "
            f"widths, got {ranges!r}."
        )
    return base


def _check_count(n_per_group):
    if not isinstance(n_per_group, int | np.integer) or n_per_group < 1:
        raise ValueError(f"n_per_group must be an int >= 1, got {n_per_group!r}.")
