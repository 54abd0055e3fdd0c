"""
How each source was found: `PartialSegmentationImage.detection_flags`
(validation, label operations, slicing, FITS) and its bits in
`PartialSourceCatalog.flags`.
"""

import numpy as np
import pytest
from astropy.io import fits

from pais_deblend.segmentation import (PartialSegmentationImage,
                                       PartialSourceCatalog, SourceFlags)

RESIDUAL = int(SourceFlags.RESIDUAL)
ADDED = int(SourceFlags.ADDED)


def three_sources(**kwargs):
    """A 1 x 5 image: label 1, then 1 and 2 sharing a pixel, then 2, then
    label 3 alone, then nothing."""
    contributors = np.array([[[1, 0], [1, 2], [2, 0], [3, 0], [0, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0], [1.0, 0.0],
                         [0.0, 0.0]]])
    options = {'detection_flags': {1: 0, 2: RESIDUAL, 3: ADDED},
               'class_star': {1: 0.9, 2: 0.1}}
    options.update(kwargs)
    return PartialSegmentationImage(contributors, weights, **options)


class TestProperty:
    def test_absent_is_empty(self):
        segm = three_sources(detection_flags=None)
        assert segm.detection_flags == {}

    def test_present_and_a_copy(self):
        segm = three_sources()
        assert segm.detection_flags == {1: 0, 2: RESIDUAL, 3: ADDED}
        segm.detection_flags[2] = 0
        assert segm.detection_flags[2] == RESIDUAL

    def test_numpy_and_enum_values(self):
        segm = three_sources(detection_flags={
            np.int64(2): np.int32(RESIDUAL), 3: SourceFlags.ADDED,
            1: RESIDUAL | ADDED})
        assert segm.detection_flags == {1: RESIDUAL | ADDED, 2: RESIDUAL,
                                        3: ADDED}
        assert all(type(label) is int and type(value) is int
                   for label, value in segm.detection_flags.items())

    def test_does_not_keep_the_given_dict(self):
        flags = {1: 0, 2: RESIDUAL}
        segm = three_sources(detection_flags=flags)
        flags[1] = ADDED
        assert segm.detection_flags[1] == 0

    def test_from_valid_arrays(self):
        segm = three_sources()
        new = PartialSegmentationImage._from_valid_arrays(
            segm.contributors, segm.weights, segm.data,
            detection_flags={2: RESIDUAL})
        assert new.detection_flags == {2: RESIDUAL}
        with pytest.raises(ValueError, match=r'detection_flags\[2\] must '
                           'be a sum of the detection bits'):
            PartialSegmentationImage._from_valid_arrays(
                segm.contributors, segm.weights, segm.data,
                detection_flags={2: 1})


class TestValidation:
    @pytest.mark.parametrize('detection_flags, error, match', [
        ([0, 8], TypeError, r'detection_flags must be a dict \{label: int\}, '
                            'got list'),
        ({'1': 8}, TypeError, "detection_flags labels must be integers, got "
                              "'1'"),
        ({True: 8}, TypeError, 'detection_flags labels must be integers'),
        ({1.0: 8}, TypeError, 'detection_flags labels must be integers'),
        ({0: 8}, ValueError, r'detection_flags labels must be in \[1, '),
        ({-2: 8}, ValueError, r'detection_flags labels must be in \[1, '),
        ({1: 8.0}, TypeError, r'detection_flags\[1\] must be an integer'),
        ({1: '8'}, TypeError, r'detection_flags\[1\] must be an integer'),
        ({1: True}, TypeError, r'detection_flags\[1\] must be an integer'),
        ({1: -8}, ValueError, r'detection_flags\[1\] must be a sum of the '
                              r'detection bits of SourceFlags \(RESIDUAL 8, '
                              r'ADDED 16\), got -8'),
        # the measured bits are the catalog's, not the segmentation's
        ({1: 1}, ValueError, r'detection_flags\[1\] must be a sum of the '
                             'detection bits.*got 1'),
        ({1: 32}, ValueError, r'detection_flags\[1\] must be a sum'),
        ({1: 8 | 4}, ValueError, r'detection_flags\[1\] must be a sum'),
        ({1: 0, 7: 8}, ValueError, r'detection_flags has labels \[7\] that '
                                   'are not labels of the image'),
    ])
    def test_errors(self, detection_flags, error, match):
        with pytest.raises(error, match=match):
            three_sources(detection_flags=detection_flags)

    def test_label_without_weight(self):
        contributors = np.array([[[1, 2]]])
        weights = np.array([[[1.0, 0.0]]])
        with pytest.raises(ValueError, match=r'detection_flags has labels '
                           r'\[2\] that are not in partial_labels'):
            PartialSegmentationImage(contributors, weights,
                                     detection_flags={2: RESIDUAL})
        # without checks only the label range is verified
        segm = PartialSegmentationImage(contributors, weights, check=False,
                                        detection_flags={2: RESIDUAL})
        assert segm.detection_flags == {2: RESIDUAL}
        with pytest.raises(ValueError, match=r'detection_flags has labels '
                           r'\[3\] that are not labels of the image'):
            PartialSegmentationImage(contributors, weights, check=False,
                                     detection_flags={3: RESIDUAL})


class TestLabelOperations:
    def test_remove(self):
        segm = three_sources()
        segm.remove_labels(2)
        assert segm.detection_flags == {1: 0, 3: ADDED}
        segm.remove_label(3, relabel=True)
        assert segm.detection_flags == {1: 0}

    def test_keep(self):
        segm = three_sources()
        segm.keep_labels([2, 3])
        assert segm.detection_flags == {2: RESIDUAL, 3: ADDED}
        segm.keep_label(3, relabel=True)
        (label,) = segm.partial_labels.tolist()
        assert segm.detection_flags == {label: ADDED}
        segm = three_sources()
        segm.keep_labels([3], relabel=True)
        assert segm.detection_flags == {1: ADDED}

    def test_relabel(self):
        segm = three_sources()
        segm.reassign_label(1, 9)
        assert segm.detection_flags == {9: 0, 2: RESIDUAL, 3: ADDED}
        segm.relabel_consecutive()
        assert segm.detection_flags == {3: 0, 1: RESIDUAL, 2: ADDED}
        segm.relabel_consecutive(start_label=5)
        assert segm.detection_flags == {7: 0, 5: RESIDUAL, 6: ADDED}

    def test_merge_takes_the_union(self):
        segm = three_sources()
        segm.reassign_labels([2, 3], 2)
        assert segm.detection_flags == {1: 0, 2: RESIDUAL | ADDED}
        segm.reassign_labels([1, 2], 1)
        assert segm.detection_flags == {1: RESIDUAL | ADDED}

    def test_merge_with_unknown_keeps_the_known_value(self):
        segm = three_sources(detection_flags={3: ADDED})
        segm.reassign_labels([1, 3], 1)
        assert segm.detection_flags == {1: ADDED}

    def test_remove_masked_labels(self):
        segm = three_sources()
        mask = np.zeros(segm.shape, dtype=bool)
        mask[0, 3] = True
        segm.remove_masked_labels(mask)
        assert segm.detection_flags == {1: 0, 2: RESIDUAL}

    def test_slicing(self):
        segm = three_sources()
        assert segm[:, 2:5].detection_flags == {2: RESIDUAL, 3: ADDED}
        assert segm[:, 0:1].detection_flags == {1: 0}

    def test_copy_is_independent(self):
        segm = three_sources()
        copy = segm.copy()
        copy.remove_labels(2)
        assert segm.detection_flags == {1: 0, 2: RESIDUAL, 3: ADDED}


class TestFits:
    def test_round_trip(self, tmp_path):
        segm = three_sources()
        segm.write(tmp_path / 'segm.fits')
        with fits.open(tmp_path / 'segm.fits') as hdus:
            assert 'DETECTION_FLAGS' in hdus
        read = PartialSegmentationImage.read(tmp_path / 'segm.fits')
        assert read.detection_flags == segm.detection_flags
        assert read.class_star == segm.class_star

    def test_files_without_them_read_as_before(self, tmp_path):
        segm = three_sources(detection_flags=None, class_star=None)
        segm.write(tmp_path / 'plain.fits')
        with fits.open(tmp_path / 'plain.fits') as hdus:
            assert [hdu.name for hdu in hdus] == [
                'PRIMARY', 'DOMINANT', 'CONTRIBUTORS', 'WEIGHTS', 'CENTERS']
        read = PartialSegmentationImage.read(tmp_path / 'plain.fits')
        assert read.detection_flags == {}
        np.testing.assert_array_equal(read.contributors, segm.contributors)

    @staticmethod
    def _rewrite(source, target, edit):
        with fits.open(source) as hdus:
            hdus = fits.HDUList([hdu.copy() for hdu in hdus])
            edit(hdus)
            hdus.writeto(target, checksum=True)

    def test_malformed(self, tmp_path):
        good = tmp_path / 'good.fits'
        three_sources().write(good)

        def renamed(hdus):
            hdus['DETECTION_FLAGS'].columns.change_name('detection_flags',
                                                        'f')

        def unknown_bit(hdus):
            hdus['DETECTION_FLAGS'].data['detection_flags'][0] = 2

        def float_column(hdus):
            table = hdus['DETECTION_FLAGS'].data
            hdus['DETECTION_FLAGS'] = fits.BinTableHDU.from_columns(
                [fits.Column('label', 'J', array=table['label']),
                 fits.Column('detection_flags', 'D',
                             array=table['detection_flags'] * 1.0)],
                name='DETECTION_FLAGS')

        cases = [(renamed, 'extension DETECTION_FLAGS must be a table with '
                  'integer columns label, detection_flags'),
                 (unknown_bit, r'detection_flags\[1\] must be a sum of the '
                  'detection bits'),
                 (float_column, 'extension DETECTION_FLAGS must be a table')]
        for index, (edit, match) in enumerate(cases):
            target = tmp_path / f'bad{index}.fits'
            self._rewrite(good, target, edit)
            with pytest.raises(ValueError, match=match):
                PartialSegmentationImage.read(target)


class TestCatalogFlags:
    def test_detection_bits_join_the_measured_ones(self):
        segm = three_sources()
        data = np.ones(segm.shape)
        plain = PartialSourceCatalog(data, three_sources(
            detection_flags=None)).flags
        flags = PartialSourceCatalog(data, segm).flags
        np.testing.assert_array_equal(flags,
                                      plain | np.array([0, RESIDUAL, ADDED]))
        assert flags.dtype == np.int64
        assert flags[1] & SourceFlags.RESIDUAL
        assert not flags[0] & (SourceFlags.RESIDUAL | SourceFlags.ADDED)
        assert flags[2] & SourceFlags.ADDED
        # a subset keeps its rows' bits; a scalar catalog a scalar
        catalog = PartialSourceCatalog(data, segm)
        assert catalog[2].flags == flags[2]
        np.testing.assert_array_equal(catalog.select_labels([3, 2]).flags,
                                      flags[[2, 1]])
        np.testing.assert_array_equal(catalog.to_table()['flags'], flags)

    def test_labels_without_a_value_count_as_zero(self):
        segm = three_sources(detection_flags={3: ADDED})
        data = np.ones(segm.shape)
        flags = PartialSourceCatalog(data, segm).flags
        plain = PartialSourceCatalog(data, three_sources(
            detection_flags=None)).flags
        np.testing.assert_array_equal(flags, plain | np.array([0, 0, ADDED]))
