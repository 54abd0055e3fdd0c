"""
Tests of the multi-band partial form (band_weights, band_names) and the
star/galaxy probabilities (class_star) of PartialSegmentationImage, and
of the multi-band PartialSourceCatalog.
"""

import json

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.segmentation import (PartialSegmentationImage,
                                       PartialSourceCatalog)
from pais_deblend.segmentation.catalog import DEFAULT_COLUMNS

from .conftest import random_partial_form


# --- scenes -----------------------------------------------------------------

def random_band_weights(contributors, n_bands, seed):
    """Random valid band weights aligned with ``contributors``."""
    rng = np.random.default_rng(seed)
    values = rng.random(contributors.shape + (n_bands,)) + 1e-3
    # some slots hold nothing in some band
    values[rng.random(values.shape) < 0.1] = 0.0
    values[contributors == 0] = 0.0
    sums = values.sum(axis=2, keepdims=True)
    attributed = (contributors > 0).any(axis=-1)[..., None, None]
    # a pixel whose kept slots are all 0 in a band gets its first slot
    empty_band = attributed & (sums == 0)
    first = np.zeros_like(values, dtype=bool)
    first[:, :, 0, :] = True
    values = np.where(empty_band & first, 1.0, values)
    sums = values.sum(axis=2, keepdims=True)
    return np.where(sums > 0, values / np.where(sums > 0, sums, 1), 0.0
                    ).astype(np.float32)


def random_band_image(seed=0, n_bands=3, shape=(16, 18), n_slots=3,
                      n_labels=6, class_star=True):
    contributors, weights = random_partial_form(
        shape=shape, n_slots=n_slots, n_labels=n_labels, seed=seed)
    band_weights = random_band_weights(contributors, n_bands, seed + 100)
    labels = np.unique(contributors[contributors > 0])
    stars = ({int(label): float(value) for label, value in zip(
        labels, np.random.default_rng(seed).random(labels.size),
        strict=True)} if class_star else None)
    return PartialSegmentationImage(contributors, weights,
                                    band_weights=band_weights,
                                    class_star=stars)


def gaussian_scene(seed=0, shape=(40, 48), n_sources=4, n_bands=3,
                   n_slots=3, noise=0.01):
    """
    Seeded round Gaussians of different colours, the true partial form
    (the n_slots brightest sources of each pixel, per-band fractions of
    the kept sources) and a noisy (h, w, b) image.
    """
    rng = np.random.default_rng(seed)
    height, width = shape
    y, x = np.mgrid[:height, :width]
    centers = np.column_stack([rng.uniform(6, height - 6, n_sources),
                               rng.uniform(6, width - 6, n_sources)])
    sigmas = rng.uniform(1.5, 3.5, n_sources)
    colours = rng.uniform(0.2, 2.0, (n_sources, n_bands))
    profiles = np.exp(-0.5 * ((y - centers[:, 0, None, None]) ** 2
                              + (x - centers[:, 1, None, None]) ** 2)
                      / sigmas[:, None, None] ** 2)
    sources = profiles[..., None] * colours[:, None, None, :]  # (N,h,w,b)
    total = sources.sum(axis=-1)  # (N, h, w)
    order = np.argsort(-total, axis=0)[:n_slots]  # brightest first
    kept = np.take_along_axis(total, order, axis=0)
    keep = kept > 1e-3
    contributors = np.where(keep, order + 1, 0).transpose(1, 2, 0)
    kept_bands = np.take_along_axis(sources, order[..., None], axis=0)
    kept_bands = np.where(keep[..., None], kept_bands, 0.0)
    band_sums = kept_bands.sum(axis=0, keepdims=True)
    band_weights = np.where(band_sums > 0, kept_bands
                            / np.where(band_sums > 0, band_sums, 1), 0.0)
    band_weights = band_weights.transpose(1, 2, 0, 3).astype(np.float32)
    kept = np.where(keep, kept, 0.0)
    sums = kept.sum(axis=0, keepdims=True)
    weights = np.where(sums > 0, kept / np.where(sums > 0, sums, 1), 0.0)
    weights = weights.transpose(1, 2, 0).astype(np.float32)
    data = sources.sum(axis=0) + rng.normal(0, noise, shape + (n_bands,))
    segm = PartialSegmentationImage(
        contributors.astype(np.int32), weights, band_weights=band_weights,
        centers={i + 1: tuple(c) for i, c in enumerate(centers)},
        class_star={1: 0.95, 2: 0.05, 3: 0.4},
        band_names=('g', 'r', 'z')[:n_bands] if n_bands <= 3 else None)
    return segm, data


def two_band_image(**kwargs):
    contributors = np.array([[[1, 0], [1, 2], [2, 0], [0, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0], [0, 0]]])
    band_r = np.array([[[1.0, 0.0], [0.5, 0.5], [1.0, 0.0], [0, 0]]])
    band_weights = np.stack([weights, band_r], axis=-1)
    options = {'band_weights': band_weights, 'class_star': {1: 0.9, 2: 0.1},
               'band_names': ('g', 'r')}
    options.update(kwargs)
    return PartialSegmentationImage(contributors, weights, **options)


def assert_valid_bands(segm):
    """Every band obeys the rules of the weights; rebuilding with check."""
    contributors = segm.contributors
    band_weights = segm.band_weights
    assert band_weights.shape == contributors.shape + (band_weights.shape[-1],)
    assert band_weights.dtype == np.float32
    assert np.all(band_weights[contributors == 0] == 0)
    assert band_weights.min() >= 0
    attributed = (contributors > 0).any(axis=-1)
    sums = band_weights.sum(axis=2, dtype=np.float64)
    np.testing.assert_allclose(sums[attributed], 1.0, atol=1e-5)
    np.testing.assert_array_equal(sums[~attributed], 0.0)
    PartialSegmentationImage(contributors, segm.weights,
                             band_weights=band_weights,
                             class_star=segm.class_star,
                             band_names=segm.band_names)


def reference_band_map(segm, label, band):
    """M_{label, band} as a sum over the slots (a NumPy reference)."""
    result = np.zeros(segm.shape, dtype=np.float32)
    for slot in range(segm.n_contributors):
        owned = segm.contributors[..., slot] == label
        result += owned * segm.band_weights[..., slot, band]
    return result


# --- the segmentation image -----------------------------------------------------

class TestProperties:
    def test_absent(self):
        contributors, weights = random_partial_form()
        segm = PartialSegmentationImage(contributors, weights)
        assert segm.band_weights is None
        assert segm.n_bands is None
        assert segm.band_names is None
        assert segm.class_star == {}

    def test_present(self):
        segm = two_band_image()
        assert segm.band_weights.shape == (1, 4, 2, 2)
        assert segm.band_weights.dtype == np.float32
        assert segm.n_bands == 2
        assert segm.band_names == ('g', 'r')
        assert segm.class_star == {1: 0.9, 2: 0.1}
        # the dominant map and the combined weights are unchanged
        np.testing.assert_array_equal(segm.data, [[1, 1, 2, 0]])

    def test_names_without_band_weights(self):
        contributors, weights = random_partial_form()
        segm = PartialSegmentationImage(contributors, weights,
                                        band_names=['g', 'r', 'z'])
        assert segm.band_names == ('g', 'r', 'z')
        assert segm.n_bands == 3
        assert segm.band_weights is None

    def test_class_star_is_a_copy(self):
        segm = two_band_image()
        segm.class_star[1] = 0.0
        assert segm.class_star[1] == 0.9

    def test_does_not_modify_inputs(self):
        segm = random_band_image(seed=3)
        band_weights = segm.band_weights.copy()
        given_weights = band_weights.copy()
        stars = segm.class_star
        saved_stars = dict(stars)
        new = PartialSegmentationImage(segm.contributors, segm.weights,
                                       band_weights=band_weights,
                                       class_star=stars)
        new.remove_labels(new.partial_labels[:2])
        np.testing.assert_array_equal(band_weights, given_weights)
        assert stars == saved_stars

    def test_from_valid_arrays(self):
        segm = two_band_image()
        new = PartialSegmentationImage._from_valid_arrays(
            segm.contributors, segm.weights, segm.data,
            band_weights=segm.band_weights, class_star={2: 0.3},
            band_names=('g', 'r'))
        np.testing.assert_array_equal(new.band_weights, segm.band_weights)
        assert new.class_star == {2: 0.3}
        assert new.band_names == ('g', 'r')
        with pytest.raises(ValueError, match='band_weights must have shape'):
            PartialSegmentationImage._from_valid_arrays(
                segm.contributors, segm.weights, segm.data,
                band_weights=np.ones((1, 4, 2)))
        with pytest.raises(ValueError, match=r'class_star\[1\] must be a '
                           'probability'):
            PartialSegmentationImage._from_valid_arrays(
                segm.contributors, segm.weights, segm.data,
                class_star={1: 2.0})


class TestValidation:
    def setup_method(self):
        segm = two_band_image()
        self.contributors = segm.contributors
        self.weights = segm.weights
        self.band_weights = segm.band_weights

    def build(self, **kwargs):
        return PartialSegmentationImage(self.contributors, self.weights,
                                        **kwargs)

    def test_band_weights_not_an_array(self):
        with pytest.raises(TypeError, match='band_weights must be an array'):
            self.build(band_weights='weights')

    def test_band_weights_not_real(self):
        with pytest.raises(TypeError, match='band_weights must be a real '
                           'array, got dtype <U1'):
            self.build(band_weights=np.full(self.band_weights.shape, 'a'))

    @pytest.mark.parametrize('shape', [(1, 4, 2), (1, 4, 3, 2), (2, 4, 2, 2),
                                       (1, 4, 2, 0), (1, 4, 2, 2, 1)])
    def test_band_weights_shape(self, shape):
        with pytest.raises(ValueError, match=r'band_weights must have shape '
                           r'\(h, w, n, b\) = \(1, 4, 2, .b.\).*got shape'):
            self.build(band_weights=np.zeros(shape))

    def test_band_weights_not_finite(self):
        band_weights = self.band_weights.copy()
        band_weights[0, 0, 0, 1] = np.nan
        with pytest.raises(ValueError, match='band_weights must be finite'):
            self.build(band_weights=band_weights)

    @pytest.mark.parametrize('value', [-0.5, 1.5])
    def test_band_weights_out_of_range(self, value):
        band_weights = self.band_weights.copy()
        band_weights[0, 0, 0, 1] = value
        with pytest.raises(ValueError, match=r'band_weights must lie in '
                           r'\[0, 1\]'):
            self.build(band_weights=band_weights)

    def test_band_weight_on_empty_slot(self):
        band_weights = self.band_weights.copy()
        band_weights[0, 3, 0, 0] = 0.5
        with pytest.raises(ValueError, match='band_weights must be 0 in '
                           'slots whose contributor is 0'):
            self.build(band_weights=band_weights)

    def test_band_weights_must_sum_to_one(self):
        band_weights = self.band_weights.copy()
        band_weights[0, 1, 1, 1] = 0.25  # r band of pixel 1: 0.5 + 0.25
        with pytest.raises(ValueError, match=r'sum to 1 .* got 0\.75 in band '
                           r'1 at pixel \(y=0, x=1\)'):
            self.build(band_weights=band_weights)

    def test_band_weights_sum_tolerance(self):
        band_weights = self.band_weights.copy()
        band_weights[0, 1, 0, 1] += 2e-5  # float32 rounding is accepted
        self.build(band_weights=band_weights)

    def test_check_false_skips_values_not_shapes(self):
        band_weights = self.band_weights.copy()
        band_weights[0, 1, 1, 1] = 0.25
        segm = self.build(band_weights=band_weights, check=False)
        assert segm.band_weights[0, 1, 1, 1] == np.float32(0.25)
        with pytest.raises(ValueError, match='band_weights must have shape'):
            self.build(band_weights=band_weights[..., 0], check=False)

    @pytest.mark.parametrize('band_names, error, match', [
        ('gr', TypeError, 'band_names must be a sequence of str'),
        (3, TypeError, 'band_names must be a sequence of str'),
        (('g', 2), TypeError, 'band_names must hold str, got 2'),
        (('g', ''), ValueError, 'band_names must not hold empty strings'),
        ((), ValueError, 'band_names must not be empty'),
        (('g', 'g'), ValueError, r"band_names must be distinct, got \['g', "
                                 r"'g'\]"),
        (('g', 'r', 'z'), ValueError, r'band_names has 3 name\(s\) but '
                                      r'band_weights has 2 band\(s\)')])
    def test_band_names(self, band_names, error, match):
        with pytest.raises(error, match=match):
            self.build(band_weights=self.band_weights, band_names=band_names)

    @pytest.mark.parametrize('class_star, error, match', [
        ([0.5, 0.5], TypeError, 'class_star must be a dict'),
        ({'1': 0.5}, TypeError, "class_star labels must be integers, got '1'"),
        ({True: 0.5}, TypeError, 'class_star labels must be integers'),
        ({0: 0.5}, ValueError, r'class_star labels must be in \[1, '),
        ({1: '0.5'}, TypeError, r'class_star\[1\] must be a real number'),
        ({1: 1.5}, ValueError, r'class_star\[1\] must be a probability in '
                               r'\[0, 1\], got 1.5'),
        ({1: -0.1}, ValueError, r'class_star\[1\] must be a probability'),
        ({2: np.nan}, ValueError, r'class_star\[2\] must be a probability'),
        ({1: 0.5, 7: 0.5}, ValueError, r'class_star has labels \[7\] that '
                                       'are not'),
    ])
    def test_class_star(self, class_star, error, match):
        with pytest.raises(error, match=match):
            self.build(class_star=class_star)

    def test_class_star_label_without_weight(self):
        contributors = np.array([[[1, 2]]])
        weights = np.array([[[1.0, 0.0]]])
        with pytest.raises(ValueError, match=r'class_star has labels \[2\] '
                           'that are not in partial_labels'):
            PartialSegmentationImage(contributors, weights,
                                     class_star={2: 0.5})
        # without checks only the label range is verified
        segm = PartialSegmentationImage(contributors, weights, check=False,
                                        class_star={2: 0.5})
        assert segm.class_star == {2: 0.5}
        with pytest.raises(ValueError, match=r'class_star has labels \[3\] '
                           'that are not labels of the image'):
            PartialSegmentationImage(contributors, weights, check=False,
                                     class_star={3: 0.5})

    def test_numpy_class_star(self):
        segm = self.build(class_star={np.int32(1): np.float32(0.25)})
        assert segm.class_star == {1: 0.25}
        assert type(next(iter(segm.class_star))) is int


class TestWeightMap:
    def test_by_index_and_name(self):
        segm = random_band_image(seed=1, n_bands=3)
        segm = PartialSegmentationImage(segm.contributors, segm.weights,
                                        band_weights=segm.band_weights,
                                        band_names=('g', 'r', 'z'))
        for label in segm.partial_labels:
            for band, name in enumerate(('g', 'r', 'z')):
                expected = reference_band_map(segm, label, band)
                np.testing.assert_array_equal(
                    segm.weight_map(label, band=band), expected)
                np.testing.assert_array_equal(
                    segm.weight_map(label, band=name), expected)
                np.testing.assert_array_equal(
                    segm.weight_map(label, band=np.int64(band)), expected)
            # the default stays the band-combined map
            np.testing.assert_array_equal(
                segm.weight_map(label), segm.weight_map(label, band=None))

    def test_errors(self):
        segm = two_band_image(band_names=None)
        with pytest.raises(ValueError, match="band='g' is a name but this "
                           'PartialSegmentationImage has no band_names'):
            segm.weight_map(1, band='g')
        with pytest.raises(ValueError, match=r'band=2 is out of range: the '
                           r'image has 2 band\(s\)'):
            segm.weight_map(1, band=2)
        with pytest.raises(ValueError, match='band=-1 is out of range'):
            segm.weight_map(1, band=-1)
        with pytest.raises(TypeError, match='band must be an integer index '
                           'or a band name, got 1.0'):
            segm.weight_map(1, band=1.0)
        with pytest.raises(TypeError, match='band must be an integer'):
            segm.weight_map(1, band=True)
        named = two_band_image()
        with pytest.raises(ValueError, match=r"band='i' is not one of the "
                           r"band_names \['g', 'r'\]"):
            named.weight_map(1, band='i')
        contributors, weights = random_partial_form()
        plain = PartialSegmentationImage(contributors, weights)
        with pytest.raises(ValueError, match='band=0 was given but this '
                           'PartialSegmentationImage has no band_weights'):
            plain.weight_map(1, band=0)
        with pytest.raises(ValueError, match=r'label \[9\] not found'):
            named.weight_map(9, band=0)


class TestSourceImages:
    @pytest.mark.parametrize('seed', [0, 1])
    def test_each_band_conserves_flux(self, seed):
        segm, data = gaussian_scene(seed=seed)
        total = np.zeros_like(data)
        for label, cutout in segm.source_images(data).items():
            total[cutout.slices] += cutout.data
            # S_{i,b} = M_{i,b} * I_b
            for band in range(data.shape[-1]):
                expected = (reference_band_map(segm, label, band)
                            * data[..., band])[cutout.slices]
                np.testing.assert_allclose(cutout.data[..., band], expected,
                                           rtol=1e-12, atol=0)
        attributed = (segm.contributors > 0).any(axis=-1)
        np.testing.assert_allclose(total[attributed], data[attributed],
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(total[~attributed], 0.0)

    def test_colours_differ_from_combined_weights(self):
        segm = two_band_image()
        data = np.array([[[1.0, 2.0], [4.0, 8.0], [2.0, 1.0], [5.0, 5.0]]])
        cutout = segm.source_image(2, data)
        assert cutout.slices == (slice(0, 1), slice(1, 3))
        np.testing.assert_allclose(cutout.data, [[[1.0, 4.0], [2.0, 1.0]]])

    def test_two_dimensional_data_uses_combined_weights(self):
        segm = two_band_image()
        cutout = segm.source_image(2, np.array([[1.0, 4.0, 2.0, 3.0]]))
        np.testing.assert_allclose(cutout.data, [[1.0, 2.0]])

    def test_without_band_weights_every_band_gets_combined(self):
        segm = two_band_image(band_weights=None, band_names=None)
        data = np.array([[[1.0, 2.0], [4.0, 8.0], [2.0, 1.0], [5.0, 5.0]]])
        np.testing.assert_allclose(segm.source_image(2, data).data,
                                   [[[1.0, 2.0], [2.0, 1.0]]])

    def test_band_count_must_match(self):
        segm = two_band_image()
        with pytest.raises(ValueError, match=r'data has 3 band\(s\) .* but '
                           r'the segmentation image has 2'):
            segm.source_image(1, np.ones((1, 4, 3)))
        with pytest.raises(ValueError, match=r'data has 1 band\(s\)'):
            segm.source_images(np.ones((1, 4, 1)))

    def test_slices_cover_every_band(self):
        # label 2 holds weight only in band 1 at pixel 0: its box covers it
        contributors = np.array([[[1, 2], [2, 0]]])
        weights = np.array([[[1.0, 0.0], [1.0, 0.0]]])
        band_weights = np.stack(
            [weights, np.array([[[0.5, 0.5], [1.0, 0.0]]])], axis=-1)
        segm = PartialSegmentationImage(contributors, weights,
                                        band_weights=band_weights)
        assert segm.partial_slices[2] == (slice(0, 1), slice(0, 2))
        data = np.ones((1, 2, 2))
        total = np.zeros_like(data)
        for cutout in segm.source_images(data).values():
            total[cutout.slices] += cutout.data
        np.testing.assert_allclose(total, data)


# --- label operations -----------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n_bands=st.integers(1, 3),
       n_slots=st.integers(1, 3),
       operation=st.sampled_from(['remove', 'keep', 'merge', 'merge_relabel',
                                  'relabel', 'masked', 'slice']),
       data=st.data())
def test_label_operations_keep_bands_consistent(seed, n_bands, n_slots,
                                                operation, data):
    segm = random_band_image(seed=seed, n_bands=n_bands, n_slots=n_slots,
                             shape=(8, 10))
    labels = segm.partial_labels.tolist()
    chosen = data.draw(st.lists(st.sampled_from(labels), min_size=1,
                                max_size=len(labels), unique=True))
    stars_before = segm.class_star
    if operation == 'remove':
        segm.remove_labels(chosen)
    elif operation == 'keep':
        segm.keep_labels(chosen)
    elif operation == 'merge':
        segm.reassign_labels(chosen, chosen[0])
    elif operation == 'merge_relabel':
        segm.reassign_labels(chosen, 40, relabel=True)
    elif operation == 'relabel':
        segm.remove_labels(chosen[:1])
        segm.relabel_consecutive(start_label=3)
    elif operation == 'masked':
        mask = np.zeros(segm.shape, dtype=bool)
        mask[:3, :4] = True  # removes labels lying entirely inside
        segm.remove_masked_labels(mask, partial_overlap=False)
    else:
        segm = segm[2:7, 1:7]
    if segm.partial_labels.size:
        assert_valid_bands(segm)
    # class_star stays on existing labels, in [0, 1]
    assert set(segm.class_star) <= set(segm.partial_labels.tolist())
    assert all(0 <= value <= 1 for value in segm.class_star.values())
    if operation == 'remove':
        assert segm.class_star == {label: value for label, value in
                                   stars_before.items()
                                   if label not in chosen}
    if operation == 'merge':
        merged = [stars_before[label] for label in chosen]
        assert min(merged) - 1e-12 <= segm.class_star[chosen[0]] <= (
            max(merged) + 1e-12)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_one_band_follows_the_combined_weights(seed):
    # a band equal to the combined weights is remapped bit for bit alike
    contributors, weights = random_partial_form(seed=seed)
    segm = PartialSegmentationImage(contributors, weights,
                                    band_weights=weights[..., None])
    segm.remove_labels([2, 5])
    segm.reassign_labels([1, 3], 3, relabel=True)
    np.testing.assert_array_equal(segm.band_weights[..., 0], segm.weights)


class TestLabelOperations:
    def test_remove_hands_band_weight_to_others(self):
        segm = two_band_image()
        segm.remove_labels(1)
        np.testing.assert_array_equal(segm.band_weights[0, :, 0, :],
                                      [[0, 0], [1, 1], [1, 1], [0, 0]])
        assert segm.class_star == {2: 0.1}

    def test_merge_uses_the_effective_area_weighted_mean(self):
        segm = two_band_image()
        areas = dict(zip(segm.partial_labels.tolist(), segm.effective_areas,
                         strict=True))
        segm.reassign_labels([1, 2], 5)
        expected = (0.9 * areas[1] + 0.1 * areas[2]) / (areas[1] + areas[2])
        assert segm.class_star == {5: pytest.approx(expected)}
        np.testing.assert_array_equal(segm.band_weights[0, :3, 0, :], 1.0)

    def test_merge_with_unknown_keeps_the_known_value(self):
        segm = two_band_image(class_star={2: 0.3})
        segm.reassign_labels(2, 1)
        assert segm.class_star == {1: 0.3}

    def test_relabel_moves_class_star(self):
        segm = two_band_image()
        segm.reassign_labels(1, 7)
        assert segm.class_star == {7: 0.9, 2: 0.1}
        segm.relabel_consecutive()
        assert segm.class_star == {2: 0.9, 1: 0.1}
        np.testing.assert_array_equal(segm.band_weights[0, 1, :, 1],
                                      [0.5, 0.5])

    def test_slicing(self):
        segm = two_band_image()
        cut = segm[:, 2:4]
        assert cut.band_names == ('g', 'r')
        assert cut.class_star == {2: 0.1}
        np.testing.assert_array_equal(cut.band_weights,
                                      segm.band_weights[:, 2:4])

    def test_copy_is_independent(self):
        segm = two_band_image()
        copy = segm.copy()
        copy.remove_labels(2)
        assert segm.class_star == {1: 0.9, 2: 0.1}
        assert segm.band_weights[0, 1, 1, 1] == 0.5


# --- FITS -------------------------------------------------------------------------

class TestFits:
    def test_round_trip(self, tmp_path):
        segm, _ = gaussian_scene(seed=4)
        filename = tmp_path / 'segm.fits'
        segm.write(filename)
        read = PartialSegmentationImage.read(filename)
        np.testing.assert_array_equal(read.contributors, segm.contributors)
        np.testing.assert_array_equal(read.weights, segm.weights)
        np.testing.assert_array_equal(read.band_weights, segm.band_weights)
        assert read.band_weights.dtype == np.float32
        assert read.band_weights.dtype.isnative
        assert read.class_star == segm.class_star
        assert read.band_names == ('g', 'r', 'z')
        assert read.centers == segm.centers
        with fits.open(filename) as hdus:
            assert hdus['BAND_WEIGHTS'].data.shape == (3, 3, 40, 48)
            assert hdus[0].header['NBANDS'] == 3
            assert json.loads(hdus[0].header['BANDNAMS']) == ['g', 'r', 'z']

    def test_round_trip_odd_names(self, tmp_path):
        names = (' g ', 'r\u2032', 'z' * 90)
        segm = random_band_image(seed=2, n_bands=3)
        segm = PartialSegmentationImage(segm.contributors, segm.weights,
                                        band_names=names)
        segm.write(tmp_path / 'segm.fits')
        read = PartialSegmentationImage.read(tmp_path / 'segm.fits')
        assert read.band_names == names
        assert read.band_weights is None
        assert read.n_bands == 3

    def test_files_without_the_extras_still_read(self, tmp_path):
        contributors, weights = random_partial_form()
        segm = PartialSegmentationImage(contributors, weights)
        segm.write(tmp_path / 'plain.fits')
        with fits.open(tmp_path / 'plain.fits') as hdus:
            assert [hdu.name for hdu in hdus] == [
                'PRIMARY', 'DOMINANT', 'CONTRIBUTORS', 'WEIGHTS', 'CENTERS']
            assert 'BANDNAMS' not in hdus[0].header
        read = PartialSegmentationImage.read(tmp_path / 'plain.fits')
        assert read.band_weights is None
        assert read.class_star == {}
        assert read.band_names is None

    def _rewrite(self, source, target, edit):
        with fits.open(source) as hdus:
            hdus = fits.HDUList([hdu.copy() for hdu in hdus])
            edit(hdus)
            hdus.writeto(target, checksum=True)

    def test_malformed_extras(self, tmp_path):
        segm = two_band_image()
        good = tmp_path / 'good.fits'
        segm.write(good)

        def flat_band_weights(hdus):
            hdus['BAND_WEIGHTS'].data = hdus['BAND_WEIGHTS'].data[0]

        def bad_names(hdus):
            hdus[0].header['BANDNAMS'] = '["g", 3]'

        def not_json(hdus):
            hdus[0].header['BANDNAMS'] = 'g, r'

        def bad_table(hdus):
            hdus['CLASS_STAR'].columns.change_name('class_star', 'p')

        def out_of_range(hdus):
            hdus['CLASS_STAR'].data['class_star'][0] = 3.0

        cases = [(flat_band_weights, 'extension BAND_WEIGHTS must hold a '
                  r'\(b, n, h, w\) image'),
                 (bad_names, 'header card BANDNAMS must be a JSON list'),
                 (not_json, 'header card BANDNAMS must be a JSON list'),
                 (bad_table, 'extension CLASS_STAR must be a table with '
                  'columns label, class_star'),
                 (out_of_range, r'class_star\[1\] must be a probability')]
        for index, (edit, match) in enumerate(cases):
            target = tmp_path / f'bad{index}.fits'
            self._rewrite(good, target, edit)
            with pytest.raises(ValueError, match=match):
                PartialSegmentationImage.read(target)


# --- the catalog ------------------------------------------------------------------

def reference_band_fluxes(segm, data, *, error=None, mask=None):
    """Slow per-pixel, per-slot band fluxes (and errors) of every label."""
    labels = segm.partial_labels
    n_bands = data.shape[-1]
    flux = np.zeros((labels.size, n_bands))
    variance = np.zeros((labels.size, n_bands))
    usable = np.zeros((labels.size, n_bands), dtype=bool)
    row_of = {int(label): row for row, label in enumerate(labels)}
    height, width, n_slots = segm.contributors.shape
    for y in range(height):
        for x in range(width):
            if mask is not None and mask[y, x]:
                continue
            for k in range(n_slots):
                label = int(segm.contributors[y, x, k])
                if label == 0:
                    continue
                for band in range(n_bands):
                    weight = (float(segm.band_weights[y, x, k, band])
                              if segm.band_weights is not None
                              else float(segm.weights[y, x, k]))
                    value = data[y, x, band]
                    if weight <= 0 or not np.isfinite(value):
                        continue
                    if error is not None and not np.isfinite(
                            error[y, x, band]):
                        continue
                    row = row_of[label]
                    flux[row, band] += weight * value
                    usable[row, band] = True
                    if error is not None:
                        variance[row, band] += (weight * error[y, x, band]) ** 2
    flux[~usable] = np.nan
    return flux, np.where(usable, np.sqrt(variance), np.nan)


class TestCatalog:
    @pytest.mark.parametrize('seed', [0, 1])
    def test_band_fluxes_equal_the_reference(self, seed):
        segm, data = gaussian_scene(seed=seed)
        rng = np.random.default_rng(seed)
        error = rng.uniform(0.01, 0.02, data.shape)
        catalog = PartialSourceCatalog(data, segm, error=error)
        flux, flux_err = reference_band_fluxes(segm, data, error=error)
        np.testing.assert_allclose(catalog.band_segment_flux, flux,
                                   rtol=1e-10)
        np.testing.assert_allclose(catalog.band_segment_flux_err, flux_err,
                                   rtol=1e-10)
        for band, name in enumerate(('g', 'r', 'z')):
            np.testing.assert_array_equal(
                getattr(catalog, f'segment_flux_{name}'), flux[:, band])
            np.testing.assert_array_equal(
                getattr(catalog, f'segment_flux_err_{name}'),
                catalog.band_segment_flux_err[:, band])
        # flux conservation band by band
        attributed = (segm.contributors > 0).any(axis=-1)
        np.testing.assert_allclose(catalog.band_segment_flux.sum(axis=0),
                                   data[attributed].sum(axis=0), rtol=1e-6)

    def test_shape_measurements_use_the_band_sum(self):
        segm, data = gaussian_scene(seed=2)
        error = np.full(data.shape, 0.01)
        catalog = PartialSourceCatalog(data, segm, error=error)
        summed = PartialSourceCatalog(data.sum(axis=-1), segm,
                                      error=np.sqrt((error ** 2).sum(-1)))
        for name in ('x_centroid', 'y_centroid', 'segment_flux',
                     'segment_flux_err', 'kron_flux', 'kron_radius',
                     'semimajor_axis', 'r90', 'blendedness', 'area'):
            np.testing.assert_array_equal(getattr(catalog, name),
                                          getattr(summed, name))

    def test_without_band_weights_combined_weights_apply(self):
        segm, data = gaussian_scene(seed=3)
        plain = PartialSegmentationImage(segm.contributors, segm.weights)
        catalog = PartialSourceCatalog(data, plain)
        assert catalog.band_names == ('band0', 'band1', 'band2')
        flux, _ = reference_band_fluxes(plain, data)
        np.testing.assert_allclose(catalog.band_segment_flux, flux,
                                   rtol=1e-10)
        np.testing.assert_allclose(catalog.segment_flux_band1, flux[:, 1],
                                   rtol=1e-10)
        # the band fluxes add up to the band-summed flux
        np.testing.assert_allclose(catalog.band_segment_flux.sum(axis=1),
                                   catalog.segment_flux, rtol=1e-10)
        assert np.all(np.isnan(catalog.band_segment_flux_err))
        assert 'segment_flux_err_band0' not in catalog.properties

    def test_columns_and_table(self):
        segm, data = gaussian_scene(seed=0)
        catalog = PartialSourceCatalog(data, segm,
                                       error=np.full(data.shape, 0.1))
        band_columns = ['segment_flux_g', 'segment_flux_r', 'segment_flux_z',
                        'segment_flux_err_g', 'segment_flux_err_r',
                        'segment_flux_err_z']
        at = DEFAULT_COLUMNS.index('segment_flux_err') + 1
        expected = (list(DEFAULT_COLUMNS[:at]) + band_columns
                    + list(DEFAULT_COLUMNS[at:]) + ['class_star'])
        assert catalog.default_columns == expected
        table = catalog.to_table()
        assert table.colnames == expected
        np.testing.assert_array_equal(table['segment_flux_r'],
                                      catalog.segment_flux_r)
        assert set(band_columns) <= set(catalog.properties)
        table = catalog.to_table(['label', 'segment_flux_z', 'class_star'])
        assert table.colnames == ['label', 'segment_flux_z', 'class_star']
        with pytest.raises(ValueError, match=r"columns \['segment_flux_i'\] "
                           'are not properties'):
            catalog.to_table('segment_flux_i')
        with pytest.raises(AttributeError, match='segment_flux_i'):
            catalog.segment_flux_i  # noqa: B018

    def test_class_star_column(self):
        segm, data = gaussian_scene(seed=1)
        catalog = PartialSourceCatalog(data, segm)
        expected = [{1: 0.95, 2: 0.05, 3: 0.4}.get(int(label), np.nan)
                    for label in catalog.labels]
        np.testing.assert_array_equal(catalog.class_star, expected)
        assert np.isnan(catalog.class_star[catalog.labels == 4][0])
        assert catalog.select_label(1).class_star == 0.95
        table = catalog.to_table()
        np.testing.assert_array_equal(table['class_star'], expected)
        # single-band data works with class_star too
        catalog = PartialSourceCatalog(data[..., 0], segm)
        assert catalog.default_columns == list(DEFAULT_COLUMNS) + [
            'class_star']
        np.testing.assert_array_equal(catalog.class_star, expected)

    def test_no_class_star_column_by_default_without_values(self):
        segm = two_band_image(class_star=None)
        catalog = PartialSourceCatalog(np.array([[1.0, 4.0, 2.0, 0.0]]),
                                       segm)
        assert catalog.default_columns == list(DEFAULT_COLUMNS)
        assert catalog.band_names is None
        assert catalog.band_segment_flux is None
        np.testing.assert_array_equal(catalog.class_star, [np.nan, np.nan])

    def test_subsets_and_scalars(self):
        segm, data = gaussian_scene(seed=5)
        catalog = PartialSourceCatalog(data, segm)
        fluxes = catalog.band_segment_flux
        sub = catalog[[2, 0]]
        np.testing.assert_array_equal(sub.band_segment_flux, fluxes[[2, 0]])
        np.testing.assert_array_equal(sub.segment_flux_g, fluxes[[2, 0], 0])
        scalar = catalog[1]
        np.testing.assert_array_equal(scalar.band_segment_flux, fluxes[1])
        assert scalar.segment_flux_z == fluxes[1, 2]
        table = scalar.to_table(['label', 'segment_flux_g'])
        assert len(table) == 1

    def test_mask_nan_background_and_units(self):
        segm, data = gaussian_scene(seed=6)
        data = data.copy()
        data[10, 12, 1] = np.nan
        mask = np.zeros(segm.shape, dtype=bool)
        mask[20:24, 20:30] = True
        background = np.array([0.1, 0.2, 0.3])
        catalog = PartialSourceCatalog((data + background) * u.Jy, segm,
                                       mask=mask, background=background
                                       * u.Jy)
        flux, _ = reference_band_fluxes(segm, data, mask=mask)
        assert catalog.band_segment_flux.unit == u.Jy
        np.testing.assert_allclose(catalog.band_segment_flux.value, flux,
                                   rtol=1e-9)
        # the NaN band pixel is unusable for the band-summed measurements
        summed = data.sum(axis=-1)
        reference = PartialSourceCatalog(summed, segm, mask=mask)
        np.testing.assert_allclose(catalog.segment_flux.value,
                                   reference.segment_flux, rtol=1e-9)

    def test_masked_array_masks_per_band(self):
        segm, data = gaussian_scene(seed=7)
        band_mask = np.zeros(data.shape, dtype=bool)
        band_mask[15:25, 15:25, 0] = True
        catalog = PartialSourceCatalog(np.ma.array(data, mask=band_mask),
                                       segm)
        masked = np.where(band_mask, np.nan, data)
        flux, _ = reference_band_fluxes(segm, masked)
        np.testing.assert_allclose(catalog.band_segment_flux, flux,
                                   rtol=1e-9)

    def test_image_background_and_summed_error(self):
        segm, data = gaussian_scene(seed=8)
        background = np.full(segm.shape, 0.5)
        catalog = PartialSourceCatalog(data + 0.5, segm,
                                       background=background,
                                       error=np.full(segm.shape, 0.1))
        flux, _ = reference_band_fluxes(segm, data)
        np.testing.assert_allclose(catalog.band_segment_flux, flux,
                                   rtol=1e-9, atol=1e-12)
        assert np.all(np.isfinite(catalog.segment_flux_err))
        assert np.all(np.isnan(catalog.band_segment_flux_err))

    def test_errors(self):
        segm, data = gaussian_scene(seed=0)
        with pytest.raises(ValueError, match=r'data has 2 band\(s\) .* but '
                           r'partial_segmentation_image has 3'):
            PartialSourceCatalog(data[..., :2], segm)
        with pytest.raises(ValueError, match=r'error has shape \(40, 48, 2\)'):
            PartialSourceCatalog(data, segm, error=np.ones((40, 48, 2)))
        with pytest.raises(ValueError, match='error must be non-negative'):
            PartialSourceCatalog(data, segm, error=-np.ones(data.shape))
        with pytest.raises(ValueError, match=r'background has shape \(2,\); '
                           'for data of shape'):
            PartialSourceCatalog(data, segm, background=np.ones(2))
        with pytest.raises(TypeError, match='background must hold real'):
            PartialSourceCatalog(data, segm, background=np.array(['a'] * 3))
        with pytest.raises(TypeError, match='background and data must both'):
            PartialSourceCatalog(data * u.Jy, segm, background=np.ones(3))
        with pytest.raises(ValueError, match=r'mask has shape \(40, 48, 3\)'):
            PartialSourceCatalog(data, segm,
                                 mask=np.zeros(data.shape, dtype=bool))
        clash = PartialSegmentationImage(segm.contributors, segm.weights,
                                         band_names=('g', 'err', 'z'))
        with pytest.raises(ValueError, match=r"band_names \['g', 'err', 'z'\]"
                           ' give catalog columns that clash'):
            PartialSourceCatalog(data, clash)
        clash = PartialSegmentationImage(segm.contributors, segm.weights,
                                         band_names=('g', 'err_g', 'z'))
        with pytest.raises(ValueError, match='give catalog columns that '
                           'clash'):
            PartialSourceCatalog(data, clash, error=np.ones(data.shape))
