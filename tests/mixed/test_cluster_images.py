"""make_cluster_images: shapes carry the label, clusters carry batch effects."""

import numpy as np
import pytest
from scipy.stats import f_oneway

from orthokit.datasets import make_cluster_images


def _fill_ratio(masks):
    """Share of each shape's bounding box that the shape fills."""
    height = masks.any(axis=2).sum(axis=1)
    width = masks.any(axis=1).sum(axis=1)
    return masks.sum(axis=(1, 2)) / (height * width)


@pytest.mark.parametrize("size", [8, 16, 24])
def test_layout_and_reproducibility(size):
    data = make_cluster_images(
        n_clusters=3, n_per_cluster=20, size=size, random_state=0
    )
    assert data.images.shape == (60, 1, size, size)
    assert data.images.dtype == np.float32
    assert data.y.dtype == np.int64 and set(data.y) == {0, 1}
    assert data.cluster.tolist() == ["c0"] * 20 + ["c1"] * 20 + ["c2"] * 20
    assert data.shapes.shape == (60, size, size)
    assert list(data.cluster_params.index) == ["c0", "c1", "c2"]
    again = make_cluster_images(
        n_clusters=3, n_per_cluster=20, size=size, random_state=0
    )
    np.testing.assert_array_equal(again.images, data.images)
    other = make_cluster_images(
        n_clusters=3, n_per_cluster=20, size=size, random_state=1
    )
    assert not np.array_equal(other.images, data.images)


@pytest.mark.parametrize("size", [8, 16, 24])
def test_the_label_is_the_shape(size):
    # A square fills its bounding box, a plus sign at most 5/9 of it.
    data = make_cluster_images(
        n_clusters=4, n_per_cluster=100, size=size, random_state=0
    )
    fill = _fill_ratio(data.shapes)
    np.testing.assert_array_equal(fill[data.y == 0], 1.0)
    assert fill[data.y == 1].max() <= 5 / 9
    np.testing.assert_array_equal((fill < 1).astype(int), data.y)


def test_without_batch_effects_the_image_is_the_shape_plus_noise():
    data = make_cluster_images(
        n_clusters=3, n_per_cluster=30, batch_effect=0.0, noise=0.0, random_state=0
    )
    np.testing.assert_allclose(data.images[:, 0], data.shapes, atol=1e-6)


def test_clusters_differ_in_intensity_statistics():
    data = make_cluster_images(n_clusters=5, n_per_cluster=80, random_state=0)
    per_image = data.images.reshape(len(data.y), -1)
    groups = [per_image[data.cluster == c] for c in data.cluster_params.index]
    # the mean and the spread of the pixels both depend on the cluster
    assert f_oneway(*[g.mean(axis=1) for g in groups]).pvalue < 1e-10
    assert f_oneway(*[g.std(axis=1) for g in groups]).pvalue < 1e-10
    # and the shift follows the cluster's drawn intensity
    means = np.array([g.mean() for g in groups])
    intensity = data.cluster_params["intensity"].to_numpy()
    assert np.corrcoef(means, intensity)[0, 1] > 0.8
    flat = make_cluster_images(
        n_clusters=5, n_per_cluster=80, batch_effect=0.0, random_state=0
    )
    flat_images = flat.images.reshape(len(flat.y), -1)
    flat_groups = [flat_images[flat.cluster == c] for c in flat.cluster_params.index]
    assert f_oneway(*[g.mean(axis=1) for g in flat_groups]).pvalue > 1e-3


def test_each_cluster_has_its_own_texture():
    params = make_cluster_images(n_clusters=6, random_state=0).cluster_params
    assert params["texture_angle"].nunique() == 6
    assert params["texture_frequency"].between(0.15, 0.45).all()
    assert params["texture_amplitude"].between(0.2, 0.5).all()


@pytest.mark.parametrize(("confounding", "balanced"), [(0.0, True), (0.3, False)])
def test_confounding_sets_the_clusters_class_balance(confounding, balanced):
    data = make_cluster_images(
        n_clusters=6, n_per_cluster=50, confounding=confounding, random_state=0
    )
    share = data.cluster_params["share_class_1"]
    observed = [data.y[data.cluster == c].mean() for c in share.index]
    np.testing.assert_allclose(observed, share.to_numpy())
    assert (share.nunique() == 1) == balanced
    assert share.between(0.1, 0.9).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_clusters": 1}, "n_clusters"),
        ({"size": 4}, "size"),
        ({"noise": -1.0}, "noise"),
        ({"batch_effect": -0.5}, "batch_effect"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_cluster_images(**kwargs)
