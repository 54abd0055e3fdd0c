"""Tests of the plotting helpers of partial segmentation images."""

import numpy as np
import pytest

matplotlib = pytest.importorskip('matplotlib')
matplotlib.use('Agg')

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from photutils.segmentation import SegmentationImage  # noqa: E402

from pais_deblend.segmentation import (PartialSegmentationImage,  # noqa: E402
                                       plot_blended, plot_dominant)
from pais_deblend.segmentation.plotting import _blended_rgb  # noqa: E402


def shared_pixel_image():
    """1 x 4: source 1, a 0.75/0.25 shared pixel, source 2, nothing."""
    contributors = np.array([[[1, 0], [1, 2], [2, 0], [0, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0], [0, 0]]])
    return PartialSegmentationImage(contributors, weights)


def gaussian_blend(shape=(40, 50)):
    """Two overlapping Gaussians attributed by their true fractions."""
    yy, xx = np.indices(shape, dtype=np.float64)
    profiles = np.array([
        100 * np.exp(-((yy - 20) ** 2 + (xx - 20) ** 2) / (2 * 3.0 ** 2)),
        60 * np.exp(-((yy - 22) ** 2 + (xx - 29) ** 2) / (2 * 2.5 ** 2))])
    model = profiles.sum(axis=0)
    footprint = model > 1.0
    contributors = np.where(footprint, np.array([1, 2])[:, None, None], 0)
    weights = np.where(footprint, profiles / model, 0.0)
    return (model, PartialSegmentationImage(
        np.moveaxis(contributors, 0, -1), np.moveaxis(weights, 0, -1)))


@pytest.fixture
def axes():
    figure, ax = plt.subplots()
    yield ax
    plt.close(figure)


def label_colors(segm, seed):
    """The photutils random colours of the labels (black background)."""
    return np.array(segm.make_cmap(background_color='#000000',
                                   seed=seed).colors)


class TestPlotDominant:
    def test_shows_the_dominant_map(self, axes):
        segm = shared_pixel_image()
        image = plot_dominant(segm, ax=axes, seed=3)
        np.testing.assert_array_equal(image.get_array(), segm.data)
        assert image.origin == 'lower'
        np.testing.assert_allclose(image.cmap.colors, label_colors(segm, 3))
        rgba = image.to_rgba(image.get_array())
        np.testing.assert_allclose(rgba[0, 3], to_rgba('#000000'))

    def test_same_as_photutils_imshow(self, axes):
        segm = shared_pixel_image()
        ours = plot_dominant(segm, ax=axes, seed=5)
        reference = SegmentationImage(segm.data.copy()).imshow(
            ax=axes, cmap=segm.make_cmap(background_color='#000000', seed=5))
        np.testing.assert_allclose(ours.to_rgba(ours.get_array()),
                                   reference.to_rgba(reference.get_array()))

    def test_current_axes(self):
        figure, ax = plt.subplots()
        try:
            image = plot_dominant(shared_pixel_image())
            assert image.axes is ax
        finally:
            plt.close(figure)

    def test_not_partial(self, axes):
        with pytest.raises(TypeError, match='segm must be a '
                           'PartialSegmentationImage, got ndarray'):
            plot_dominant(np.zeros((2, 2), dtype=int), ax=axes)


class TestPlotBlended:
    def test_pixels_mix_their_contributors(self, axes):
        segm = shared_pixel_image()
        image = plot_blended(segm, ax=axes, seed=2)
        rgb = image.get_array()
        colors = label_colors(segm, 2)[:, :3]
        np.testing.assert_allclose(rgb[0, 0], colors[1], atol=1e-6)
        np.testing.assert_allclose(rgb[0, 1],
                                   0.75 * colors[1] + 0.25 * colors[2],
                                   atol=1e-6)
        np.testing.assert_allclose(rgb[0, 2], colors[2], atol=1e-6)
        np.testing.assert_allclose(rgb[0, 3], 0.0)
        assert image.origin == 'lower'

    def test_colours_match_dominant_view(self, axes):
        _, segm = gaussian_blend()
        dominant = plot_dominant(segm, ax=axes, seed=4)
        blended = plot_blended(segm, ax=axes, seed=4)
        owned = (segm.weights.max(axis=-1) == 1.0) & (segm.data > 0)
        assert owned.any()
        expected = dominant.to_rgba(segm.data)[..., :3]
        np.testing.assert_allclose(blended.get_array()[owned],
                                   expected[owned], atol=1e-6)

    def test_faint_partial_label_gets_a_colour(self):
        # label 2 is never dominant; the colour table still covers it
        contributors = np.array([[[1, 2], [1, 0]]])
        weights = np.array([[[0.6, 0.4], [1.0, 0.0]]])
        segm = PartialSegmentationImage(contributors, weights)
        assert segm.max_label == 1
        rgb = _blended_rgb(segm, seed=1)
        assert rgb.shape == (1, 2, 3)
        assert not np.allclose(rgb[0, 0], rgb[0, 1])

    def test_background_color(self):
        segm = shared_pixel_image()
        rgb = _blended_rgb(segm, background_color='white')
        np.testing.assert_allclose(rgb[0, 3], 1.0)

    def test_data_sets_brightness(self):
        data, segm = gaussian_blend()
        flat = _blended_rgb(segm, seed=0)
        shaded = _blended_rgb(segm, seed=0, data=data)
        assert shaded.dtype == np.float32
        assert np.all(shaded <= flat + 1e-6)
        peak = np.unravel_index(np.argmax(data), data.shape)
        edge = np.unravel_index(np.argmin(np.where(segm.data > 0, data,
                                                   np.inf)), data.shape)
        assert shaded[peak].sum() > shaded[edge].sum()

    def test_imshow_blended_method(self, axes):
        data, segm = gaussian_blend()
        image = segm.imshow_blended(ax=axes, seed=7, data=data)
        np.testing.assert_allclose(image.get_array(),
                                   _blended_rgb(segm, seed=7, data=data))

    def test_not_partial(self, axes):
        with pytest.raises(TypeError, match='segm must be a '
                           'PartialSegmentationImage, got SegmentationImage'):
            plot_blended(SegmentationImage(np.ones((2, 2), dtype=int)),
                         ax=axes)

    def test_bad_data(self, axes):
        segm = shared_pixel_image()
        with pytest.raises(ValueError, match=r'data has shape \(2, 2\)'):
            plot_blended(segm, ax=axes, data=np.ones((2, 2)))
        with pytest.raises(TypeError, match='data must hold real numbers'):
            plot_blended(segm, ax=axes, data=np.array([['a'] * 4]))
        with pytest.raises(ValueError, match='at least one finite pixel'):
            plot_blended(segm, ax=axes, data=np.full((1, 4), np.nan))
        with pytest.raises(ValueError, match='percentile must be <= 100'):
            plot_blended(segm, ax=axes, data=np.ones((1, 4)),
                         percentile=120)
