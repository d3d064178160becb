"""Synthetic confounded images of MDN, P-MDN and R-MDN (ALGORITHMS.md section 7)."""

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


def _overlap_accuracy(low0, low1, width=3.0):
    """Return the best accuracy from ``U(low0, low0 + w)`` vs ``U(low1, low1 + w)``."""
    overlap = max(0.0, min(low0, low1) + width - max(low0, low1))
    return 1.0 - 0.5 * overlap / width


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


def _generate(n_per_group, main_lows, confounder_lows, noise, rng):
    y = np.repeat([0, 1], n_per_group)
    lows = np.asarray(main_lows, dtype=float)[y]
    main = lows + rng.uniform(0.0, 3.0, size=y.size)
    lows = np.asarray(confounder_lows, dtype=float)[y]
    confounder = lows + rng.uniform(0.0, 3.0, size=y.size)
    return Bunch(
        images=_images(main, confounder, rng, noise),
        y=y,
        confounder=confounder,
        main_effect=main,
        max_accuracy=_overlap_accuracy(*main_lows),
    )


def make_confounded_images(n_per_group=1000, *, noise=0.01, random_state=None):
    """Generate the two-group confounded images of Lu et al. (2021).

    32x32 images with a 16x16 Gaussian kernel (``nsig=5``) in quadrants 2 and
    4 scaled by the main effect ``mf`` and one in quadrant 3 scaled by the
    confounder ``cf``, plus ``N(0, noise)`` pixel noise. Group 0 draws
    ``mf, cf ~ U(1, 4)``, group 1 ``U(3, 6)``. A classifier using only ``mf``
    reaches at most 83.3% accuracy; more means it uses the confounder.

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
    return _generate(n_per_group, (1.0, 3.0), (1.0, 3.0), noise, rng)


def make_continual_confounded_images(
    n_per_group=1000,
    *,
    n_stages=5,
    shift="confounder",
    step=0.125,
    noise=0.01,
    random_state=None,
):
    """Generate the continual variant of R-MDN (seed 003, Suppl. E.1).

    Stage ``s`` (0-based) moves the groups' confounder ranges apart
    (``shift="confounder"``: group 0 ``U(1 - s step, 4 - s step)``, group 1
    ``U(3 + s step, 6 + s step)``), the main-effect ranges together
    (``shift="main"``), or both.

    Parameters
    ----------
    n_per_group : int, default=1000
        Images per group and stage.
    n_stages : int, default=5
    shift : {"confounder", "main", "both"}, default="confounder"
        Which distribution changes across stages (the paper's datasets 1-3).
    step : float, default=0.125
        Shift of each range per stage.
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
    >>> [round(s.max_accuracy, 3) for s in stages]
    [0.833, 0.792, 0.75, 0.708, 0.667]
    """
    _check_count(n_per_group)
    if not isinstance(n_stages, int) or n_stages < 1:
        raise ValueError(f"n_stages must be an int >= 1, got {n_stages!r}.")
    if shift not in _SHIFTS:
        raise ValueError(f"shift must be one of {_SHIFTS}, got {shift!r}.")
    rng = check_random_state(random_state)
    stages = []
    for s in range(n_stages):
        move_main = step * s if shift in ("main", "both") else 0.0
        move_confounder = step * s if shift in ("confounder", "both") else 0.0
        main_lows = (1.0 + move_main, 3.0 - move_main)
        confounder_lows = (1.0 - move_confounder, 3.0 + move_confounder)
        stages.append(_generate(n_per_group, main_lows, confounder_lows, noise, rng))
    return stages


def _check_count(n_per_group):
    if not isinstance(n_per_group, int | np.integer) or n_per_group < 1:
        raise ValueError(f"n_per_group must be an int >= 1, got {n_per_group!r}.")
