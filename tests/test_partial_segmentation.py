"""Tests of PartialSegmentationImage and its numba kernels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from photutils.segmentation import SegmentationImage, SourceCatalog

from pais_deblend.segmentation import PartialSegmentationImage, SourceCutout
from pais_deblend.segmentation import _kernels, _reference
from pais_deblend.utils.exceptions import PaisDeblendWarning

from .conftest import random_partial_form


def make_two_source_image():
    contributors = np.array([[[1, 0], [1, 2], [2, 0], [0, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0], [0, 0]]])
    return PartialSegmentationImage(contributors, weights,
                                    centers={1: (0, 0), 2: (0, 2)})


def _kernel(kernel, serial):
    """A parallel kernel, or its serial twin (small frames)."""
    return kernel.serial_twin if serial else kernel


class TestKernelsAgainstReferences:
    @pytest.mark.parametrize('seed', [0, 1, 2])
    @pytest.mark.parametrize('serial', [False, True])
    def test_dominant_labels(self, seed, serial):
        contributors, weights = random_partial_form(seed=seed)
        np.testing.assert_array_equal(
            _kernel(_kernels.dominant_labels, serial)(contributors, weights),
            _reference.dominant_labels_reference(contributors, weights))

    @pytest.mark.parametrize('seed', [0, 1])
    def test_label_weight_sums(self, seed):
        contributors, weights = random_partial_form(seed=seed)
        np.testing.assert_allclose(
            _kernels.label_weight_sums(contributors, weights, 6),
            _reference.label_weight_sums_reference(contributors, weights, 6),
            rtol=1e-6)

    @pytest.mark.parametrize('seed', [0, 1])
    def test_label_bounding_boxes(self, seed):
        contributors, weights = random_partial_form(seed=seed, n_labels=9)
        np.testing.assert_array_equal(
            _kernels.label_bounding_boxes(contributors, weights, 9),
            _reference.label_bounding_boxes_reference(contributors, weights,
                                                      9))

    @pytest.mark.parametrize('serial', [False, True])
    def test_weight_map(self, partial_form, serial):
        contributors, weights = partial_form
        kernel = _kernel(_kernels.weight_map, serial)
        for label in range(7):
            np.testing.assert_array_equal(
                kernel(contributors, weights, np.int32(label)),
                _reference.weight_map_reference(contributors, weights, label))

    @pytest.mark.parametrize('seed', [0, 1, 2])
    @pytest.mark.parametrize('serial', [False, True])
    def test_remap_and_merge(self, seed, serial):
        contributors, weights = random_partial_form(seed=seed)
        label_map = np.array([0, 1, 0, 3, 1, 5, 0], dtype=np.int32)
        kernel = _kernel(_kernels.remap_and_merge, serial)
        result = np.empty_like(contributors), np.empty_like(weights)
        kernel(contributors, weights, label_map, *result)
        expected = _reference.remap_and_merge_reference(contributors, weights,
                                                        label_map)
        np.testing.assert_array_equal(result[0], expected[0])
        np.testing.assert_allclose(result[1], expected[1], atol=1e-6)
        # the outputs may be the inputs: the same values, bit for bit
        kernel(contributors, weights, label_map, contributors, weights)
        np.testing.assert_array_equal(contributors, result[0])
        np.testing.assert_array_equal(weights, result[1])

    def test_small_frames_take_the_serial_twins(self, monkeypatch):
        from pais_deblend.utils import _numba_serial

        contributors, _ = random_partial_form()
        assert (_kernels.for_frame(_kernels.weight_map, contributors)
                is _kernels.weight_map.serial_twin)
        monkeypatch.setattr(_numba_serial, 'SERIAL_PIXELS',
                            contributors[..., 0].size - 1)
        assert (_kernels.for_frame(_kernels.weight_map, contributors)
                is _kernels.weight_map)


class TestConstruction:
    def test_is_a_segmentation_image(self):
        segm = make_two_source_image()
        assert isinstance(segm, SegmentationImage)
        np.testing.assert_array_equal(segm.data, [[1, 1, 2, 0]])
        assert segm.data.dtype == np.int32
        np.testing.assert_array_equal(segm.labels, [1, 2])
        assert segm.n_contributors == 2
        assert segm.shape == (1, 4)

    def test_faint_source_is_partial_but_not_dominant(self):
        contributors = np.array([[[1, 2], [1, 0]]])
        weights = np.array([[[0.9, 0.1], [1.0, 0.0]]])
        segm = PartialSegmentationImage(contributors, weights)
        np.testing.assert_array_equal(segm.labels, [1])
        np.testing.assert_array_equal(segm.partial_labels, [1, 2])
        assert segm.get_effective_area(2) == pytest.approx(0.1)

    def test_does_not_modify_inputs(self, partial_form):
        contributors, weights = partial_form
        saved = contributors.copy(), weights.copy()
        segm = PartialSegmentationImage(contributors, weights)
        segm.remove_labels(segm.partial_labels[:2])
        segm.relabel_consecutive()
        np.testing.assert_array_equal(contributors, saved[0])
        np.testing.assert_array_equal(weights, saved[1])

    def test_data_is_read_only(self):
        segm = make_two_source_image()
        with pytest.raises(AttributeError, match='cannot be set'):
            segm.data = np.zeros((1, 4), dtype=int)

    def test_effective_areas(self):
        segm = make_two_source_image()
        np.testing.assert_allclose(segm.effective_areas, [1.75, 1.25])

    def test_partial_slices(self):
        segm = make_two_source_image()
        assert segm.partial_slices == {1: (slice(0, 1), slice(0, 2)),
                                       2: (slice(0, 1), slice(1, 3))}

    def test_str(self):
        assert 'n_contributors: 2' in str(make_two_source_image())

    def test_unattributed_image(self):
        segm = PartialSegmentationImage(np.zeros((3, 3, 2), dtype=int),
                                        np.zeros((3, 3, 2)))
        assert segm.n_labels == 0
        assert segm.partial_labels.size == 0
        assert segm.source_images(np.ones((3, 3))) == {}


class TestValidation:
    def test_contributors_must_be_integer(self):
        with pytest.raises(TypeError, match='contributors must be an integer'):
            PartialSegmentationImage(np.ones((2, 2, 1)), np.ones((2, 2, 1)))

    def test_weights_must_be_real(self):
        with pytest.raises(TypeError, match='weights must be a real array'):
            PartialSegmentationImage(np.ones((2, 2, 1), dtype=int),
                                     np.full((2, 2, 1), 'a'))

    def test_contributors_must_be_3d(self):
        with pytest.raises(ValueError, match=r'contributors must be 3-dim.*\(2, 2\)'):
            PartialSegmentationImage(np.ones((2, 2), dtype=int), np.ones((2, 2)))

    def test_shape_mismatch(self):
        with pytest.raises(ValueError, match=r'weights has shape \(2, 2, 2\)'):
            PartialSegmentationImage(np.ones((2, 2, 1), dtype=int),
                                     np.ones((2, 2, 2)))

    def test_empty(self):
        with pytest.raises(ValueError, match='must not be empty'):
            PartialSegmentationImage(np.ones((0, 2, 1), dtype=int),
                                     np.ones((0, 2, 1)))

    def test_negative_label(self):
        with pytest.raises(ValueError, match='contributors must be >= 0'):
            PartialSegmentationImage(np.full((2, 2, 1), -1), np.ones((2, 2, 1)))

    def test_weights_out_of_range(self):
        with pytest.raises(ValueError, match=r'weights must lie in \[0, 1\]'):
            PartialSegmentationImage(np.ones((1, 1, 2), dtype=int) * [[[1, 2]]],
                                     np.array([[[1.5, -0.5]]]))

    def test_weights_nan(self):
        with pytest.raises(ValueError, match='weights must be finite'):
            PartialSegmentationImage(np.ones((1, 1, 1), dtype=int),
                                     np.full((1, 1, 1), np.nan))

    def test_weight_on_empty_slot(self):
        with pytest.raises(ValueError, match='contributor is 0'):
            PartialSegmentationImage(np.array([[[1, 0]]]),
                                     np.array([[[0.5, 0.5]]]))

    def test_repeated_label(self):
        with pytest.raises(ValueError, match=r'repeats label 3 at pixel \(y=0, x=0\)'):
            PartialSegmentationImage(np.array([[[3, 3]]]),
                                     np.array([[[0.5, 0.5]]]))

    def test_weights_must_sum_to_one(self):
        with pytest.raises(ValueError, match='sum to 1 on attributed pixels, got 0.5'):
            PartialSegmentationImage(np.array([[[1, 2]]]),
                                     np.array([[[0.25, 0.25]]]))

    def test_centers_type(self):
        with pytest.raises(TypeError, match='centers must be a dict'):
            PartialSegmentationImage(np.array([[[1]]]), np.array([[[1.0]]]),
                                     centers=[(0, 0)])

    def test_centers_value(self):
        with pytest.raises(ValueError, match=r'centers\[1\] must be a \(y, x\) pair'):
            PartialSegmentationImage(np.array([[[1]]]), np.array([[[1.0]]]),
                                     centers={1: (0, 0, 0)})

    def test_unknown_label(self):
        segm = make_two_source_image()
        with pytest.raises(ValueError, match=r'label \[7\] not found'):
            segm.weight_map(7)
        with pytest.raises(ValueError, match=r'labels \[7, 8\] not found'):
            segm.remove_labels([7, 8])

    def test_source_image_data_shape(self):
        segm = make_two_source_image()
        with pytest.raises(ValueError, match=r'data has shape \(2, 4\)'):
            segm.source_image(1, np.ones((2, 4)))
        with pytest.raises(ValueError, match='data must be 2 or 3-dimensional'):
            segm.source_image(1, np.ones(4))


class TestSourceImages:
    def test_sum_reproduces_data(self, partial_form):
        contributors, weights = partial_form
        segm = PartialSegmentationImage(contributors, weights)
        data = np.random.default_rng(3).normal(size=segm.shape)
        total = np.zeros(segm.shape)
        for cutout in segm.source_images(data).values():
            assert isinstance(cutout, SourceCutout)
            total[cutout.slices] += cutout.data
        attributed = (contributors > 0).any(axis=-1)
        np.testing.assert_allclose(total[attributed], data[attributed],
                                   rtol=1e-6, atol=1e-12)
        assert np.all(total[~attributed] == 0)

    def test_multiband(self):
        segm = make_two_source_image()
        data = np.arange(8, dtype=float).reshape(1, 4, 2)
        cutout = segm.source_image(2, data)
        np.testing.assert_allclose(cutout.data, [[[0.5, 0.75], [4, 5]]])

    def test_nan_pixels_not_attributed(self):
        segm = make_two_source_image()
        data = np.array([[1.0, 2.0, 3.0, np.nan]])
        for cutout in segm.source_images(data).values():
            assert np.all(np.isfinite(cutout.data))

    def test_works_with_source_catalog(self):
        segm = make_two_source_image()
        data = np.array([[1.0, 4.0, 2.0, 5.0]])
        catalog = SourceCatalog(data, segm)
        np.testing.assert_allclose(catalog.segment_flux, [5.0, 2.0])

    def test_to_segmentation_image(self):
        segm = make_two_source_image()
        plain = segm.to_segmentation_image()
        assert type(plain) is SegmentationImage
        np.testing.assert_array_equal(plain.data, segm.data)


class TestLabelOperations:
    def test_remove_hands_weight_to_others(self):
        segm = make_two_source_image()
        segm.remove_labels(1)
        np.testing.assert_array_equal(segm.data, [[0, 2, 2, 0]])
        np.testing.assert_allclose(segm.weight_map(2), [[0, 1, 1, 0]])
        assert segm.centers == {2: (0.0, 2.0)}

    def test_remove_with_relabel(self):
        segm = make_two_source_image()
        segm.remove_label(1, relabel=True)
        np.testing.assert_array_equal(segm.partial_labels, [1])
        assert segm.centers == {1: (0.0, 2.0)}

    def test_keep_labels(self):
        segm = make_two_source_image()
        segm.keep_label(2)
        np.testing.assert_array_equal(segm.partial_labels, [2])

    def test_merge_labels_adds_weights(self):
        segm = make_two_source_image()
        segm.reassign_labels([1, 2], new_label=5)
        np.testing.assert_array_equal(segm.data, [[5, 5, 5, 0]])
        np.testing.assert_allclose(segm.weight_map(5), [[1, 1, 1, 0]])
        assert segm.n_contributors == 2

    def test_relabel_consecutive(self, partial_form):
        contributors, weights = partial_form
        segm = PartialSegmentationImage(contributors * 3, weights)
        before = {label: segm.weight_map(label) for label in segm.partial_labels}
        segm.relabel_consecutive(start_label=10)
        np.testing.assert_array_equal(segm.partial_labels,
                                      10 + np.arange(len(before)))
        for new, old in zip(segm.partial_labels, sorted(before)):
            np.testing.assert_array_equal(segm.weight_map(new), before[old])

    @pytest.mark.parametrize('operation', ['relabel', 'remove', 'merge'])
    def test_editing_in_place_matches_copying(self, operation):
        # the deblender's own arrays are overwritten; every result (arrays,
        # band weights, class_star, centres) equals that of the copying
        # operations, and outside the block the arrays are copied again
        contributors, weights = random_partial_form(seed=3)
        rng = np.random.default_rng(3)
        band_weights = np.where(contributors[..., np.newaxis] > 0,
                                rng.random(contributors.shape + (2,)), 0.0)
        band_weights /= np.maximum(band_weights.sum(axis=2, keepdims=True),
                                   1e-12)

        def build():
            return PartialSegmentationImage(
                contributors * 2, weights, band_weights=band_weights,
                class_star={2 * label: label / 10 for label in range(1, 7)},
                centers={2 * label: (label, label) for label in range(1, 7)})

        def apply(segm):
            if operation == 'relabel':
                segm.relabel_consecutive()
            elif operation == 'remove':
                segm.remove_labels([4, 8])
            else:
                segm.reassign_labels([2, 6], new_label=6)

        copied, edited = build(), build()
        apply(copied)
        arrays = edited.contributors, edited.weights
        with edited._editing_in_place():
            apply(edited)
        assert edited.contributors is arrays[0]
        assert edited.weights is arrays[1]
        np.testing.assert_array_equal(edited.contributors, copied.contributors)
        np.testing.assert_array_equal(edited.weights, copied.weights)
        np.testing.assert_array_equal(edited.band_weights, copied.band_weights)
        np.testing.assert_array_equal(edited.data, copied.data)
        assert edited.class_star == copied.class_star
        assert edited.centers == copied.centers
        before = edited.contributors.copy()
        edited.relabel_consecutive(start_label=20)
        assert edited.contributors is not arrays[0]
        np.testing.assert_array_equal(arrays[0], before)

    def test_relabel_consecutive_errors(self):
        segm = make_two_source_image()
        with pytest.raises(ValueError, match='start_label must be > 0'):
            segm.relabel_consecutive(0)
        empty = PartialSegmentationImage(np.zeros((2, 2, 1), dtype=int),
                                         np.zeros((2, 2, 1)))
        with pytest.warns(PaisDeblendWarning, match='Cannot relabel'):
            empty.relabel_consecutive()

    def test_remove_masked_labels(self):
        segm = make_two_source_image()
        mask = np.array([[False, True, False, False]])
        partial = segm.copy()
        partial.remove_masked_labels(mask)
        assert partial.partial_labels.size == 0
        segm.remove_masked_labels(mask, partial_overlap=False)
        np.testing.assert_array_equal(segm.partial_labels, [1, 2])

    def test_remove_masked_labels_errors(self):
        segm = make_two_source_image()
        with pytest.raises(ValueError, match=r'mask has shape \(2, 2\)'):
            segm.remove_masked_labels(np.zeros((2, 2), dtype=bool))
        with pytest.raises(TypeError, match='mask must be a boolean array'):
            segm.remove_masked_labels(np.zeros((1, 4)))

    def test_remove_border_labels(self, partial_form):
        contributors, weights = partial_form
        segm = PartialSegmentationImage(contributors, weights)
        segm.remove_border_labels(border_width=1)
        assert segm.partial_labels.size == 0

    def test_new_label_must_be_nonnegative(self):
        segm = make_two_source_image()
        with pytest.raises(ValueError, match='new_label must be a non-negative'):
            segm.reassign_labels(1, new_label=-2)

    def test_slicing(self):
        segm = make_two_source_image()
        sub = segm[0:1, 1:3]
        assert isinstance(sub, PartialSegmentationImage)
        np.testing.assert_array_equal(sub.data, [[1, 2]])
        assert sub.centers == {1: (0.0, -1.0), 2: (0.0, 1.0)}
        with pytest.raises(TypeError, match='not a valid 2D slice'):
            segm[0]
        with pytest.raises(ValueError, match='empty'):
            segm[0:0, 0:1]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_slots=st.integers(1, 4),
       remove=st.lists(st.integers(1, 6), max_size=4, unique=True))
def test_label_operations_keep_partial_form_consistent(seed, n_slots, remove):
    contributors, weights = random_partial_form(shape=(9, 11), n_slots=n_slots,
                                                seed=seed)
    segm = PartialSegmentationImage(contributors, weights)
    present = [label for label in remove if label in segm.partial_labels]
    segm.remove_labels(present)
    segm.relabel_consecutive() if segm.partial_labels.size else None
    # revalidates every invariant: labels unique per pixel, weights in
    # [0, 1], zero on empty slots, summing to 1 on attributed pixels
    rebuilt = PartialSegmentationImage(segm.contributors, segm.weights)
    np.testing.assert_array_equal(rebuilt.data, segm.data)
    assert not set(segm.partial_labels) & {0}
    attributed_before = (contributors > 0).any(axis=-1)
    attributed_after = (segm.contributors > 0).any(axis=-1)
    assert np.all(attributed_after <= attributed_before)


class TestFits:
    def test_round_trip_is_lossless(self, tmp_path, partial_form):
        contributors, weights = partial_form
        segm = PartialSegmentationImage(contributors, weights,
                                        centers={1: (2.5, 3.25), 4: (-1, 40)})
        path = tmp_path / 'partial.fits'
        segm.write(path)
        again = PartialSegmentationImage.read(path)
        np.testing.assert_array_equal(again.contributors, segm.contributors)
        np.testing.assert_array_equal(again.weights, segm.weights)
        np.testing.assert_array_equal(again.data, segm.data)
        assert again.centers == segm.centers
        assert again.weights.dtype == np.float32

    def test_header_records_n_and_version(self, tmp_path):
        from astropy.io import fits

        path = tmp_path / 'partial.fits'
        make_two_source_image().write(path)
        header = fits.getheader(path)
        assert header['NCONTRIB'] == 2
        assert header['PDFORMAT'] == 1
        assert 'PDVERS' in header

    def test_no_overwrite_without_asking(self, tmp_path):
        path = tmp_path / 'partial.fits'
        path.write_bytes(b'precious')
        with pytest.raises(FileExistsError, match='overwrite=True'):
            make_two_source_image().write(path)
        assert path.read_bytes() == b'precious'
        make_two_source_image().write(path, overwrite=True)
        assert PartialSegmentationImage.read(path).n_contributors == 2

    def test_failed_write_leaves_nothing(self, tmp_path, monkeypatch):
        from astropy.io import fits

        def broken(*args, **kwargs):
            raise OSError('disk full')

        monkeypatch.setattr(fits.HDUList, 'writeto', broken)
        with pytest.raises(OSError, match='disk full'):
            make_two_source_image().write(tmp_path / 'partial.fits')
        assert list(tmp_path.iterdir()) == []

    def test_read_rejects_other_files(self, tmp_path):
        from astropy.io import fits

        path = tmp_path / 'plain.fits'
        fits.PrimaryHDU(np.zeros((2, 2))).writeto(path)
        with pytest.raises(ValueError, match='not a partial segmentation file'):
            PartialSegmentationImage.read(path)

    def test_read_rejects_other_versions(self, tmp_path):
        from astropy.io import fits

        path = tmp_path / 'partial.fits'
        make_two_source_image().write(path)
        with fits.open(path, mode='update') as hdus:
            hdus[0].header['PDFORMAT'] = 99
        with pytest.raises(ValueError, match='format version 99'):
            PartialSegmentationImage.read(path)


def test_regions_extra_brings_what_to_regions_needs():
    import os
    import tomllib

    path = os.path.join(os.path.dirname(__file__), '..', 'pyproject.toml')
    with open(path, 'rb') as handle:
        extras = tomllib.load(handle)['project']['optional-dependencies']
    names = {spec.split('>')[0].split('=')[0] for spec in extras['regions']}
    assert names == {'regions', 'shapely', 'rasterio'}
    assert 'regions' in extras['all'][0]


def test_to_regions_with_the_extra():
    pytest.importorskip('regions')
    pytest.importorskip('shapely')
    pytest.importorskip('rasterio')
    contributors = np.zeros((20, 20, 1), dtype=np.int32)
    contributors[5:10, 5:10, 0] = 1
    segm = PartialSegmentationImage(contributors,
                                    (contributors > 0).astype(np.float32))
    assert len(segm.to_regions()) == 1


def test_centers_table_states_its_axes(tmp_path):
    from astropy.io import fits

    contributors = np.ones((4, 5, 1), dtype=np.int32)
    segm = PartialSegmentationImage(contributors, np.ones((4, 5, 1)),
                                    centers={1: (1.0, 3.0)})
    segm.write(tmp_path / 'p.fits')
    with fits.open(tmp_path / 'p.fits') as hdus:
        comments = ' '.join(str(card) for card in hdus['CENTERS'].header[
            'COMMENT'])
        assert tuple(hdus['CENTERS'].data[0]) == (1, 1.0, 3.0)
    assert '0-based pixel position (row, column)' in comments
    assert 'add 1 for FITS pixel coordinates' in comments
