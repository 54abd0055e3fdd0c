"""Tests of PartialSourceCatalog."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from hypothesis import given, settings
from hypothesis import strategies as st
from photutils.segmentation import SegmentationImage, SourceCatalog

import pais_deblend
from pais_deblend.evaluation import blendedness, flux_radius
from pais_deblend.segmentation import (PartialSegmentationImage,
                                       PartialSourceCatalog, SourceFlags)
from pais_deblend.segmentation.catalog import DEFAULT_COLUMNS

from .conftest import random_partial_form

# (y, x) centre, (sigma_major, sigma_minor), angle, peak
DISJOINT_SOURCES = [((30.3, 30.7), (3.5, 2.0), 0.3, 100.0),
                    ((30.1, 90.2), (2.5, 2.5), 0.0, 60.0),
                    ((85.6, 40.4), (4.0, 1.5), 2.2, 150.0),
                    ((80.2, 120.9), (3.0, 2.2), 1.1, 80.0)]


def gaussian(shape, center, sigmas, angle, peak):
    """An elliptical Gaussian and its elliptical radius squared."""
    yy, xx = np.indices(shape, dtype=np.float64)
    dy, dx = yy - center[0], xx - center[1]
    major = dx * np.cos(angle) + dy * np.sin(angle)
    minor = -dx * np.sin(angle) + dy * np.cos(angle)
    radius2 = (major / sigmas[0]) ** 2 + (minor / sigmas[1]) ** 2
    return peak * np.exp(-0.5 * radius2), radius2


def disjoint_scene(shape=(120, 160), truncate=5.0):
    """
    Separated Gaussians truncated at ``truncate`` sigma, each labelled where
    it is nonzero, so the data are 0 outside the segments and no Kron
    aperture reaches a neighbour: photutils' catalog must agree exactly.
    """
    data = np.zeros(shape)
    labels = np.zeros(shape, dtype=np.int32)
    for label, (center, sigmas, angle, peak) in enumerate(DISJOINT_SOURCES,
                                                           start=1):
        profile, radius2 = gaussian(shape, center, sigmas, angle, peak)
        inside = radius2 < truncate ** 2
        data[inside] += profile[inside]
        labels[inside] = label
    contributors = labels[..., None]
    weights = (labels > 0)[..., None].astype(np.float32)
    return data, labels, PartialSegmentationImage(contributors, weights)


def blended_scene(shape=(48, 64), seed=0):
    """
    Three overlapping Gaussians with noise, attributed with the true
    fractions M_i = S_i / sum_j S_j where the noiseless image is bright.
    """
    rng = np.random.default_rng(seed)
    centers = [(20.0, 22.0), (24.5, 30.0), (27.0, 42.0)]
    profiles = np.array([
        gaussian(shape, center, rng.uniform(2.0, 4.0, 2),
                 rng.uniform(0, np.pi), rng.uniform(50, 200))[0]
        for center in centers])
    model = profiles.sum(axis=0)
    footprint = model > 0.5
    fractions = profiles / np.where(model > 0, model, 1.0)
    contributors = np.where(footprint, np.arange(1, 4)[:, None, None], 0)
    weights = np.where(footprint, fractions, 0.0)
    contributors = np.moveaxis(contributors, 0, -1).astype(np.int32)
    weights = np.moveaxis(weights, 0, -1).astype(np.float32)
    weights /= np.where(footprint, weights.sum(axis=-1), 1.0)[..., None]
    data = model + rng.normal(scale=1.0, size=shape)
    return data, PartialSegmentationImage(contributors, weights)


def two_source_image():
    contributors = np.array([[[1, 0], [1, 2], [2, 0]]])
    weights = np.array([[[1.0, 0.0], [0.75, 0.25], [1.0, 0.0]]])
    return PartialSegmentationImage(contributors, weights)


def values(quantity):
    return np.asarray(getattr(quantity, 'value', quantity), dtype=float)


class TestAgainstPhotutils:
    """On a 0/1 segmentation the columns are photutils' SourceCatalog."""

    COLUMNS = ('x_centroid', 'y_centroid', 'segment_flux',
               'segment_flux_err', 'area', 'semimajor_axis',
               'semiminor_axis', 'orientation', 'ellipticity',
               'eccentricity', 'elongation', 'covariance_xx',
               'covariance_yy', 'covariance_xy', 'kron_radius',
               'kron_flux', 'kron_flux_err', 'bbox_xmin', 'bbox_xmax',
               'bbox_ymin', 'bbox_ymax')

    # truncated at 2 sigma the Kron apertures reach beyond the cutouts
    @pytest.mark.parametrize('masked, truncate', [(False, 5.0), (True, 5.0),
                                                  (False, 2.0)])
    def test_columns(self, masked, truncate):
        data, labels, segm = disjoint_scene(truncate=truncate)
        error = np.random.default_rng(0).uniform(0.5, 1.5, size=data.shape)
        mask = None
        if masked:
            mask = np.zeros(data.shape, dtype=bool)
            mask[28:31, 25:33] = True  # inside source 1
            mask[84, 38:43] = True  # inside source 3
        catalog = PartialSourceCatalog(data, segm, error=error, mask=mask)
        reference = SourceCatalog(data, SegmentationImage(labels),
                                  error=error, mask=mask)
        np.testing.assert_array_equal(catalog.label, reference.label)
        for name in self.COLUMNS:
            np.testing.assert_allclose(
                values(getattr(catalog, name)),
                values(getattr(reference, name)), rtol=1e-10, atol=1e-10,
                err_msg=name)
        for fraction in (0.5, 0.9):
            np.testing.assert_allclose(
                values(catalog.flux_radius(fraction)),
                values(reference.flux_radius(fraction)), rtol=1e-8,
                err_msg=f'flux_radius({fraction})')

    def test_kron_apertures_see_the_sky(self):
        # segments holding the sources' cores only, and noise: the Kron
        # radius is the first moment over 6 moment ellipses, the light and
        # sky around the footprint included
        data = disjoint_scene(truncate=5.0)[0]
        labels, segm = disjoint_scene(truncate=1.5)[1:]
        rng = np.random.default_rng(1)
        noisy = data + rng.normal(scale=2.0, size=data.shape)
        error = np.full(data.shape, 2.0)
        catalog = PartialSourceCatalog(noisy, segm, error=error)
        reference = SourceCatalog(noisy, SegmentationImage(labels),
                                  error=error)
        assert np.all(values(reference.kron_radius) > 1.4)
        for name in ('kron_radius', 'kron_flux', 'kron_flux_err'):
            np.testing.assert_allclose(
                values(getattr(catalog, name)),
                values(getattr(reference, name)), rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(values(catalog.flux_radius(0.5)),
                                   values(reference.flux_radius(0.5)),
                                   rtol=1e-8)

    def test_kron_radius_on_hlf_segments(self):
        # the real HLF F160W cutout, segmented by photutils: the same
        # segments give the same Kron radii (not the 1.4 minimum)
        from photutils.segmentation import detect_sources

        from pais_deblend.datasets import load_hlf_goodss

        image = load_hlf_goodss().flux[..., 0].astype(np.float64)
        noise = 1.4826 * np.median(np.abs(image - np.median(image)))
        labels = detect_sources(image, 3 * noise, n_pixels=10)
        segm = PartialSegmentationImage(
            labels.data[..., None],
            (labels.data > 0)[..., None].astype(np.float32))
        catalog = PartialSourceCatalog(image, segm)
        reference = SourceCatalog(image, labels)
        radii = values(catalog.kron_radius)
        expected = values(reference.kron_radius)
        assert np.count_nonzero(expected > 1.5) >= 3
        np.testing.assert_allclose(radii, expected, rtol=0.05)

    def test_nan_pixels_are_masked(self):
        data, labels, segm = disjoint_scene()
        with_nan = data.copy()
        with_nan[30, 28:33] = np.nan
        catalog = PartialSourceCatalog(with_nan, segm)
        reference = SourceCatalog(with_nan, SegmentationImage(labels))
        for name in ('segment_flux', 'area', 'x_centroid', 'kron_flux',
                     'semimajor_axis'):
            np.testing.assert_allclose(values(getattr(catalog, name)),
                                       values(getattr(reference, name)),
                                       rtol=1e-10, err_msg=name)

    def test_kron_params(self):
        data, labels, segm = disjoint_scene()
        params = (2.0, 2.5, 3.0)
        catalog = PartialSourceCatalog(data, segm, kron_params=params)
        reference = SourceCatalog(data, SegmentationImage(labels),
                                  kron_params=params)
        for name in ('kron_radius', 'kron_flux'):
            np.testing.assert_allclose(values(getattr(catalog, name)),
                                       values(getattr(reference, name)),
                                       rtol=1e-10, err_msg=name)

    def test_minimum_circular_aperture(self):
        data, labels, segm = disjoint_scene()
        params = (2.5, 1.4, 30.0)  # larger than every Kron ellipse
        catalog = PartialSourceCatalog(data, segm, kron_params=params)
        reference = SourceCatalog(data, SegmentationImage(labels),
                                  kron_params=params)
        np.testing.assert_array_equal(values(catalog.kron_radius), 0.0)
        np.testing.assert_allclose(values(catalog.kron_flux),
                                   values(reference.kron_flux), rtol=1e-10)
        np.testing.assert_allclose(values(catalog.flux_radius(0.5)),
                                   values(reference.flux_radius(0.5)),
                                   rtol=1e-8)

    def test_sky_centroid(self):
        from astropy.wcs import WCS

        wcs = WCS(naxis=2)
        wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
        wcs.wcs.crval = [53.1, -27.8]
        wcs.wcs.crpix = [60, 50]
        wcs.wcs.cdelt = [-1e-5, 1e-5]
        data, labels, segm = disjoint_scene()
        catalog = PartialSourceCatalog(data, segm, wcs=wcs)
        reference = SourceCatalog(data, SegmentationImage(labels), wcs=wcs)
        separation = catalog.sky_centroid.separation(reference.sky_centroid)
        assert np.all(separation.to_value(u.arcsec) < 1e-8)
        assert PartialSourceCatalog(data, segm).sky_centroid is None


class TestPartialMeasurements:
    def test_two_source_example(self):
        segm = two_source_image()
        data = np.array([[1.0, 4.0, 2.0]])
        catalog = PartialSourceCatalog(data, segm,
                                       error=np.array([[1.0, 2.0, 1.0]]))
        np.testing.assert_allclose(catalog.segment_flux, [4.0, 3.0])
        np.testing.assert_allclose(catalog.segment_flux_err,
                                   [np.sqrt(1 + 1.5 ** 2),
                                    np.sqrt(0.5 ** 2 + 1)])
        np.testing.assert_allclose(catalog.area.value, [2, 2])
        assert catalog.area.unit == u.pix ** 2
        np.testing.assert_allclose(catalog.effective_area.value,
                                   [1.75, 1.25])
        np.testing.assert_allclose(catalog.x_centroid,
                                   [3.0 / 4.0, (1.0 + 4.0) / 3.0])
        np.testing.assert_array_equal(catalog.n_significant_contributors,
                                      [1, 1])
        # beta_1 = 1 - (1 + 9) / (1 + 3 * 4)
        np.testing.assert_allclose(catalog.blendedness,
                                   [1 - 10 / 13, 1 - 5 / 8])

    def test_matches_source_images(self):
        data, segm = blended_scene()
        error = np.full(data.shape, 0.7)
        catalog = PartialSourceCatalog(data, segm, error=error)
        images = segm.source_images(data)
        for row, label in enumerate(catalog.labels):
            cutout = images[int(label)]
            weight = segm.weight_map(label)
            assert catalog.segment_flux[row] == pytest.approx(
                cutout.data.sum(), rel=1e-12)
            assert catalog.area[row].value == np.count_nonzero(weight)
            assert catalog.segment_flux_err[row] == pytest.approx(
                np.sqrt(np.sum((weight * error) ** 2)), rel=1e-12)
            np.testing.assert_array_equal(
                [catalog.bbox_ymin[row], catalog.bbox_ymax[row] + 1,
                 catalog.bbox_xmin[row], catalog.bbox_xmax[row] + 1],
                [cutout.slices[0].start, cutout.slices[0].stop,
                 cutout.slices[1].start, cutout.slices[1].stop])
        np.testing.assert_allclose(catalog.effective_area.value,
                                   segm.effective_areas, rtol=1e-12)

    def test_blendedness_matches_evaluation(self):
        data, segm = blended_scene(seed=1)
        catalog = PartialSourceCatalog(data, segm)
        expected = blendedness(list(segm.source_images(data).values()),
                               shape=segm.shape)
        np.testing.assert_allclose(catalog.blendedness, expected,
                                   rtol=1e-10)
        assert np.all((catalog.blendedness > 0) & (catalog.blendedness < 1))

    def test_r90_matches_evaluation(self):
        data, segm = blended_scene(seed=2)
        catalog = PartialSourceCatalog(data, segm)
        for row, cutout in enumerate(segm.source_images(data).values()):
            center = (catalog.y_centroid[row] - cutout.slices[0].start,
                      catalog.x_centroid[row] - cutout.slices[1].start)
            assert catalog.r90[row].value == pytest.approx(
                flux_radius(cutout.data, center, fraction=0.9), rel=1e-12)
        assert catalog.r90.unit == u.pix

    def test_n_significant_contributors(self):
        # source 2 is faint inside source 1: 1 sees 2 nowhere above 0.1,
        # 2 sees 1 everywhere
        contributors = np.array([[[1, 0], [1, 2], [1, 2], [1, 0]],
                                 [[3, 0], [3, 0], [1, 0], [1, 0]]])
        weights = np.array([[[1, 0], [0.95, 0.05], [0.92, 0.08], [1, 0]],
                            [[1, 0], [1, 0], [1, 0], [1, 0]]])
        segm = PartialSegmentationImage(contributors, weights)
        data = np.ones(segm.shape)
        catalog = PartialSourceCatalog(data, segm)
        np.testing.assert_array_equal(catalog.n_significant_contributors,
                                      [0, 1, 0])
        loose = PartialSourceCatalog(data, segm, contributor_threshold=0.05)
        np.testing.assert_array_equal(loose.n_significant_contributors,
                                      [1, 1, 0])

    def test_segment_snr(self):
        data, segm = blended_scene()
        error = np.full(data.shape, 2.0)
        catalog = PartialSourceCatalog(data, segm, error=error)
        np.testing.assert_allclose(
            catalog.segment_snr,
            catalog.segment_flux / catalog.segment_flux_err)
        # a source's S/N: its flux over the weighted noise
        for row, label in enumerate(catalog.labels):
            weight = np.where(segm.contributors == label, segm.weights,
                              0).sum(axis=-1)
            expected = ((weight * data).sum()
                        / np.sqrt(((weight * 2.0) ** 2).sum()))
            assert catalog.segment_snr[row] == pytest.approx(expected)
        assert np.isnan(PartialSourceCatalog(data, segm).segment_snr).all()
        zero = PartialSourceCatalog(data, segm, error=np.zeros(data.shape))
        assert np.isnan(zero.segment_snr).all()

    def test_flags(self):
        # 1: alone, inside; 2 and 3: share pixels, 3 on the right edge;
        # 4: alone, one pixel masked
        contributors = np.zeros((6, 8, 2), dtype=np.int32)
        weights = np.zeros((6, 8, 2), dtype=np.float32)
        contributors[1:3, 1:3, 0] = 1
        contributors[3:5, 4:8, 0] = 2
        contributors[3:5, 6:8] = [3, 2]
        contributors[3:5, 5, 0] = 3
        weights[..., 0] = contributors[..., 0] > 0
        weights[3:5, 6:8] = [0.5, 0.5]
        contributors[1:2, 5:7, 0] = 4
        weights[1:2, 5:7, 0] = 1.0
        segm = PartialSegmentationImage(contributors, weights)
        data = np.ones(segm.shape)
        mask = np.zeros(segm.shape, dtype=bool)
        mask[1, 6] = True
        catalog = PartialSourceCatalog(data, segm, mask=mask)
        blended = catalog.blendedness > 0.1
        np.testing.assert_array_equal(blended, [False, True, True, False])
        expected = [0, SourceFlags.BLENDED | SourceFlags.NEAR_EDGE,
                    SourceFlags.BLENDED | SourceFlags.NEAR_EDGE,
                    SourceFlags.MASKED]
        np.testing.assert_array_equal(catalog.flags, expected)
        assert catalog.flags.dtype == np.int64
        assert catalog[3].flags & SourceFlags.MASKED
        table = catalog.to_table()
        np.testing.assert_array_equal(table['flags'], expected)
        # a non-finite pixel counts as masked; masking a pixel the source
        # does not own does not
        data[1, 1] = np.nan
        mask[0, 0] = True
        flags = PartialSourceCatalog(data, segm, mask=mask).flags
        assert flags[0] == SourceFlags.MASKED

    def test_background(self):
        data, segm = blended_scene()
        plain = PartialSourceCatalog(data, segm)
        background = np.random.default_rng(5).normal(size=data.shape)
        for given in (3.5, background):
            catalog = PartialSourceCatalog(data + given, segm,
                                           background=given)
            for name in ('segment_flux', 'x_centroid', 'kron_flux',
                         'blendedness', 'r90'):
                np.testing.assert_allclose(values(getattr(catalog, name)),
                                           values(getattr(plain, name)),
                                           rtol=1e-9, err_msg=name)

    def test_units(self):
        data, segm = blended_scene()
        plain = PartialSourceCatalog(data, segm, error=np.ones(data.shape),
                                     background=0.5)
        catalog = PartialSourceCatalog(
            data * u.Jy, segm, error=np.ones(data.shape) * 1000 * u.mJy,
            background=500 * u.mJy)
        for name in ('segment_flux', 'segment_flux_err', 'kron_flux',
                     'kron_flux_err'):
            result = getattr(catalog, name)
            assert result.unit == u.Jy, name
            np.testing.assert_allclose(result.value, getattr(plain, name),
                                       rtol=1e-12)
        assert catalog.orientation.unit == u.deg
        assert catalog.semimajor_axis.unit == u.pix
        table = catalog.to_table()
        assert table['segment_flux'].unit == u.Jy

    def test_masked_array_and_fully_masked_source(self):
        segm = two_source_image()
        data = np.ma.array([[1.0, 4.0, 2.0]], mask=[[True, False, False]])
        catalog = PartialSourceCatalog(data, segm)
        np.testing.assert_allclose(catalog.segment_flux, [3.0, 3.0])
        mask = np.array([[True, True, False]])
        catalog = PartialSourceCatalog(np.array([[1.0, 4.0, 2.0]]), segm,
                                       mask=mask)
        assert np.isnan(catalog.segment_flux[0])
        assert np.isnan(catalog.area[0])
        assert np.isnan(catalog.x_centroid[0])
        assert catalog.n_significant_contributors[0] == 1
        np.testing.assert_allclose(catalog.segment_flux[1], 2.0)

    def test_negative_source_has_no_shape(self):
        segm = two_source_image()
        catalog = PartialSourceCatalog(np.array([[-1.0, -4.0, 2.0]]), segm)
        assert np.isnan(catalog.x_centroid[0])
        assert np.isnan(catalog.kron_flux[0])
        assert np.isnan(catalog.r90[0])
        assert catalog.segment_flux[0] == pytest.approx(-4.0)

    def test_does_not_modify_inputs(self):
        data, segm = blended_scene()
        error = np.ones(data.shape)
        mask = np.zeros(data.shape, dtype=bool)
        mask[0, 0] = True
        copies = [a.copy() for a in (data, error, mask, segm.contributors,
                                     segm.weights)]
        catalog = PartialSourceCatalog(data, segm, error=error, mask=mask,
                                       background=1.0)
        catalog.to_table()
        catalog.flux_radius(0.5)
        for array, copy in zip((data, error, mask, segm.contributors,
                                segm.weights), copies, strict=True):
            np.testing.assert_array_equal(array, copy)

    def test_progress_bar(self):
        data, segm = blended_scene()
        catalog = PartialSourceCatalog(data, segm, progress_bar=True)
        np.testing.assert_allclose(
            catalog.flux_radius(0.5),
            PartialSourceCatalog(data, segm).flux_radius(0.5))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 16), n_labels=st.integers(1, 8),
       n_slots=st.integers(1, 3), masked=st.booleans())
def test_flux_conservation(seed, n_labels, n_slots, masked):
    """The sources' fluxes add up to the data over the attributed pixels."""
    contributors, weights = random_partial_form(
        shape=(9, 11), n_slots=n_slots, n_labels=n_labels, seed=seed)
    segm = PartialSegmentationImage(contributors, weights)
    rng = np.random.default_rng(seed)
    data = rng.normal(loc=1.0, scale=3.0, size=segm.shape)
    usable = (contributors > 0).any(axis=-1)
    mask = None
    if masked:
        mask = rng.random(segm.shape) < 0.2
        usable &= ~mask
    catalog = PartialSourceCatalog(data, segm, mask=mask)
    total = np.nansum(catalog.segment_flux)
    assert total == pytest.approx(data[usable].sum(),
                                  abs=1e-5 * np.abs(data).sum())
    np.testing.assert_allclose(np.nansum(catalog.effective_area.value),
                               usable.sum(), rtol=1e-5)


class TestContainer:
    def test_to_table(self):
        data, segm = blended_scene()
        catalog = PartialSourceCatalog(data, segm)
        table = catalog.to_table()
        assert isinstance(table, QTable)
        assert table.colnames == list(DEFAULT_COLUMNS)
        assert len(table) == len(catalog) == 3
        assert all(value is None for value in table['sky_centroid'])
        assert table.meta['kron_params'] == (2.5, 1.4, 0.0)
        table = catalog.to_table(columns='segment_flux')
        assert table.colnames == ['segment_flux']
        table = catalog.to_table(columns=['label', 'eccentricity'])
        assert table.colnames == ['label', 'eccentricity']
        assert set(DEFAULT_COLUMNS) <= set(catalog.properties)

    def test_to_table_unknown_column(self):
        data, segm = blended_scene()
        catalog = PartialSourceCatalog(data, segm)
        with pytest.raises(ValueError, match=r"columns \['flux_radius'\]"):
            catalog.to_table(columns=['label', 'flux_radius'])
        with pytest.raises(TypeError, match='columns must be a column name'):
            catalog.to_table(columns=3)
        with pytest.raises(TypeError, match='columns must be a column name'):
            catalog.to_table(columns=['label', 3])

    def test_indexing(self):
        data, segm = blended_scene()
        catalog = PartialSourceCatalog(data, segm, error=np.ones(data.shape))
        full_flux = catalog.segment_flux
        radii = catalog.flux_radius(0.5)
        single = catalog[1]
        assert single.isscalar
        assert single.label == 2
        assert single.segment_flux == full_flux[1]
        assert single.flux_radius(0.5) == radii[1]
        assert np.isscalar(single.x_centroid)
        assert single.to_table()['label'][0] == 2
        with pytest.raises(TypeError, match='has no len'):
            len(single)
        with pytest.raises(TypeError, match='cannot be indexed'):
            single[0]
        subset = catalog[[2, 0]]
        np.testing.assert_array_equal(subset.label, [3, 1])
        np.testing.assert_array_equal(subset.segment_flux, full_flux[[2, 0]])
        np.testing.assert_array_equal(catalog[1:].label, [2, 3])
        np.testing.assert_array_equal(
            catalog[np.array([True, False, True])].label, [1, 3])
        # a fresh subset computes the same values as the sliced ones
        fresh = PartialSourceCatalog(data, segm, error=np.ones(data.shape))
        np.testing.assert_allclose(fresh[[2, 0]].kron_flux,
                                   subset.kron_flux)
        assert [c.label for c in catalog] == [1, 2, 3]
        assert 'Length: 3' in str(catalog)
        assert 'Length: 3' in repr(catalog)

    def test_select_labels(self):
        data, segm = blended_scene()
        catalog = PartialSourceCatalog(data, segm)
        np.testing.assert_array_equal(catalog.select_labels([3, 1]).label,
                                      [3, 1])
        assert catalog.select_label(2).isscalar
        assert catalog.select_label(2).slices == segm.partial_slices[2]
        with pytest.raises(ValueError, match=r'labels \[7\] are not in'):
            catalog.select_labels([1, 7])
        # from a sub-catalog whose labels are not sorted
        subset = catalog[[2, 0]]
        np.testing.assert_array_equal(subset.select_labels([1, 3]).label,
                                      [1, 3])
        with pytest.raises(ValueError, match=r'labels \[2\] are not in'):
            subset.select_label(2)

    def test_empty_catalog(self):
        segm = PartialSegmentationImage(np.zeros((3, 4, 2), dtype=int),
                                        np.zeros((3, 4, 2)))
        catalog = PartialSourceCatalog(np.ones((3, 4)), segm)
        assert len(catalog) == 0
        assert len(catalog.to_table()) == 0
        assert catalog.flux_radius(0.5).shape == (0,)
        with pytest.raises(ValueError, match=r'labels \[1\] are not in'):
            catalog.select_label(1)

    def test_top_level_export(self):
        assert pais_deblend.PartialSourceCatalog is PartialSourceCatalog
        assert 'PartialSourceCatalog' in dir(pais_deblend)


class TestBadInput:
    def setup_method(self):
        self.segm = two_source_image()
        self.data = np.array([[1.0, 4.0, 2.0]])

    def test_not_partial(self):
        with pytest.raises(TypeError, match='must be a '
                           'PartialSegmentationImage, got SegmentationImage'):
            PartialSourceCatalog(self.data,
                                 SegmentationImage(np.array([[1, 1, 2]])))

    def test_data(self):
        with pytest.raises(ValueError, match=r'data has shape \(1, 2\)'):
            PartialSourceCatalog(np.ones((1, 2)), self.segm)
        with pytest.raises(ValueError, match='data must be 2-dimensional'):
            PartialSourceCatalog(np.ones((1, 3, 2, 1)), self.segm)
        with pytest.raises(ValueError, match='data must be 2-dimensional'):
            PartialSourceCatalog(np.ones((1, 3, 0)), self.segm)
        with pytest.raises(TypeError, match='data must hold real numbers'):
            PartialSourceCatalog(np.array([['a', 'b', 'c']]), self.segm)
        with pytest.raises(TypeError, match='data must be an array'):
            PartialSourceCatalog(None, self.segm)

    def test_error(self):
        with pytest.raises(ValueError, match=r'error has shape \(3,\)'):
            PartialSourceCatalog(self.data, self.segm, error=np.ones(3))
        with pytest.raises(ValueError, match='error must be non-negative, '
                           'got minimum -2.0'):
            PartialSourceCatalog(self.data, self.segm,
                                 error=np.array([[1.0, -2.0, 1.0]]))
        with pytest.raises(TypeError, match='error must hold real numbers'):
            PartialSourceCatalog(self.data, self.segm,
                                 error=np.array([['a', 'b', 'c']]))
        with pytest.raises(TypeError, match='error and data must both be '
                           'Quantity'):
            PartialSourceCatalog(self.data * u.Jy, self.segm,
                                 error=np.ones((1, 3)))
        with pytest.raises(TypeError, match='error and data must both be '
                           'Quantity'):
            PartialSourceCatalog(self.data, self.segm,
                                 error=np.ones((1, 3)) * u.Jy)
        with pytest.raises(TypeError, match='error has unit s, which cannot '
                           'be converted'):
            PartialSourceCatalog(self.data * u.Jy, self.segm,
                                 error=np.ones((1, 3)) * u.s)

    def test_mask(self):
        with pytest.raises(ValueError, match=r'mask has shape \(3, 1\)'):
            PartialSourceCatalog(self.data, self.segm,
                                 mask=np.zeros((3, 1), dtype=bool))
        with pytest.raises(TypeError, match='mask must be a boolean array'):
            PartialSourceCatalog(self.data, self.segm,
                                 mask=np.zeros((1, 3)))

    def test_background(self):
        with pytest.raises(ValueError, match=r'background has shape \(2,\)'):
            PartialSourceCatalog(self.data, self.segm,
                                 background=np.ones(2))
        with pytest.raises(TypeError, match='background must hold real'):
            PartialSourceCatalog(self.data, self.segm, background='sky')
        with pytest.raises(TypeError, match='background and data must both'):
            PartialSourceCatalog(self.data * u.Jy, self.segm, background=1.0)

    @pytest.mark.parametrize('params, match', [
        ((2.5,), 'kron_params must have 2 or 3 elements'),
        ((2.5, 1.4, 0.0, 1.0), 'kron_params must have 2 or 3 elements'),
        ((0.0, 1.4), r'kron_params\[0\] and kron_params\[1\] must be > 0'),
        ((2.5, -1.0), r'kron_params\[0\] and kron_params\[1\] must be > 0'),
        ((2.5, 1.4, -1.0), r'kron_params\[2\] must be >= 0'),
        ((np.nan, 1.4), 'kron_params must be finite')])
    def test_kron_params(self, params, match):
        with pytest.raises(ValueError, match=match):
            PartialSourceCatalog(self.data, self.segm, kron_params=params)

    def test_contributor_threshold(self):
        with pytest.raises(ValueError, match='contributor_threshold must be '
                           '> 0.0, got 0.0'):
            PartialSourceCatalog(self.data, self.segm,
                                 contributor_threshold=0.0)
        with pytest.raises(ValueError, match='contributor_threshold must be '
                           '<= 1.0, got 1.5'):
            PartialSourceCatalog(self.data, self.segm,
                                 contributor_threshold=1.5)

    def test_flux_radius_fraction(self):
        catalog = PartialSourceCatalog(self.data, self.segm)
        with pytest.raises(ValueError, match='fraction must be > 0.0'):
            catalog.flux_radius(0.0)
        with pytest.raises(ValueError, match='fraction must be <= 1.0'):
            catalog.flux_radius(1.2)
