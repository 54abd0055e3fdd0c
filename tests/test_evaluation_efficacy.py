"""
Tests of pais_deblend.evaluation.efficacy (r90 KS test and PCR encoding
efficacy).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kstwo

from pais_deblend.evaluation import (PAPER_TABLE2, efficacy_summary,
                                     encoding_efficacy, flux_radius,
                                     r90_ks_test)
from pais_deblend.benchmark import make_sersic_scene, sersic_profile


def _gaussian(shape, center, sigma):
    yy, xx = np.indices(shape)
    return np.exp(-((yy - center[0])**2 + (xx - center[1])**2)
                  / (2 * sigma**2))


def _slow_ks(reference, decoded, center):
    """Direct transcription of the definition, pixel by pixel."""
    yy, xx = np.indices(reference.shape)
    radius = np.hypot(yy - center[0], xx - center[1])
    total = reference.sum()
    radii = np.unique(radius)
    enclosed = np.array([reference[radius <= r].sum() for r in radii])
    r90 = radii[np.argmax(enclosed >= 0.9 * total)]
    inside = radii[radii <= r90]
    ref = np.array([reference[radius <= r].sum() for r in inside])
    dec = np.array([decoded[radius <= r].sum() for r in inside])
    statistic = np.max(np.abs(ref / ref[-1] - dec / dec[-1]))
    n_pixels = int((radius <= r90).sum())
    return statistic, kstwo.sf(statistic, max(1, round(n_pixels / 2))), r90


def test_flux_radius_of_gaussian():
    image = _gaussian((81, 81), (40.3, 39.8), 4.0)
    # continuous answer sigma * sqrt(2 ln 10); pixel sampling moves it a bit
    assert flux_radius(image, (40.3, 39.8)) == pytest.approx(
        4.0 * np.sqrt(2 * np.log(10)), rel=0.05)
    assert flux_radius(image, (40.3, 39.8), fraction=0.5) == pytest.approx(
        4.0 * np.sqrt(2 * np.log(2)), rel=0.06)
    assert np.isnan(flux_radius(np.zeros((3, 3)), (1, 1)))


def test_ks_matches_slow_definition():
    rng = np.random.default_rng(2)
    center = (15.4, 16.7)
    reference = _gaussian((32, 32), center, 3.0) * 100
    decoded = reference * rng.uniform(0.7, 1.3, reference.shape)
    statistic, pvalue, r90 = r90_ks_test(reference, decoded, center)
    slow = _slow_ks(reference, decoded, center)
    assert statistic == pytest.approx(slow[0], rel=1e-10)
    assert pvalue == pytest.approx(slow[1], rel=1e-10)
    assert r90 == pytest.approx(slow[2])
    assert 0 < statistic < 1 and 0 < pvalue <= 1


def test_ks_detects_a_different_profile():
    center = (20.0, 20.0)
    reference = _gaussian((41, 41), center, 3.0)
    wider = _gaussian((41, 41), center, 6.0)
    statistic, pvalue, _ = r90_ks_test(reference, wider, center)
    assert statistic > 0.1 and pvalue < 0.05
    # flux scaling does not change the normalised profile
    statistic, pvalue, _ = r90_ks_test(reference, 7.0 * reference, center)
    assert statistic == pytest.approx(0.0, abs=1e-12)
    assert pvalue == pytest.approx(1.0)
    # no decoded flux inside r90: the largest possible gap
    statistic, pvalue, _ = r90_ks_test(reference, np.zeros_like(reference),
                                       center)
    assert statistic == 1.0 and pvalue < 1e-6


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(-3, 12), st.floats(-3, 12))
def test_identical_images_give_zero_and_one(seed, cy, cx):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (10, 10))
    statistic, pvalue, r90 = r90_ks_test(image, image.copy(), (cy, cx))
    assert statistic == 0.0
    assert pvalue == 1.0
    assert r90 >= 0


def test_r90_ks_bad_input():
    image = np.ones((5, 5))
    with pytest.raises(ValueError, match='decoded_image has shape'):
        r90_ks_test(image, np.ones((5, 4)), (2, 2))
    with pytest.raises(ValueError, match='reference_image must have a positive'):
        r90_ks_test(np.zeros((5, 5)), image, (2, 2))
    with pytest.raises(ValueError, match='center must be finite'):
        r90_ks_test(image, image, (np.nan, 2))
    with pytest.raises(ValueError, match=r'center must be a \(y, x\) pair'):
        r90_ks_test(image, image, (1, 2, 3))
    with pytest.raises(ValueError, match='decoded_image must be finite'):
        r90_ks_test(image, np.full((5, 5), np.inf), (2, 2))
    with pytest.raises(ValueError, match='reference_image must be 2-dim'):
        r90_ks_test(np.ones(5), np.ones(5), (2, 2))
    with pytest.raises(ValueError, match='fraction must be <= 1'):
        flux_radius(image, (2, 2), fraction=1.5)
    with pytest.raises(ValueError, match='fraction must be > 0'):
        flux_radius(image, (2, 2), fraction=0.0)


@pytest.mark.parametrize('choice', ['nearest', 'most_flux'])
def test_round_trip_is_exact_with_few_sources(choice):
    # at most n = 3 sources anywhere: the encoding loses nothing
    shape = (40, 40)
    centers = np.array([[12.3, 14.1], [15.0, 17.5], [30.2, 8.9]])
    yy, xx = np.indices(shape)
    images = np.array([
        200 * sersic_profile(yy, xx, c, half_light_radius=r, sersic_index=n,
                             axis_ratio=0.6, position_angle=0.4)
        for c, r, n in zip(centers, (2.0, 3.0, 1.5), (1.0, 2.5, 0.5))])
    table = encoding_efficacy(images, centers, contributor_choice=choice)
    assert list(table['label']) == [1, 2, 3]
    np.testing.assert_allclose(table['decoded_flux'], table['true_flux'],
                               rtol=1e-6)
    np.testing.assert_allclose(table['true_flux'], images.sum(axis=(1, 2)))
    assert np.all(table['ks_statistic'] < 1e-5)
    assert np.all(table['ks_pvalue'] == pytest.approx(1.0))
    assert np.all(table['r90'] > 0) and np.all(table['n_pixels_r90'] > 0)
    assert table.meta['flux_conservation'] <= 1e-6
    assert table.meta['contributor_choice'] == choice
    assert table.meta['ks_pvalue_mean'] == pytest.approx(1.0)
    # fraction maps plus the image give the same table
    fractions = images / images.sum(axis=0)
    again = encoding_efficacy(fractions, centers, data=images.sum(axis=0),
                              contributor_choice=choice)
    np.testing.assert_allclose(again['true_flux'], table['true_flux'])
    np.testing.assert_allclose(again['decoded_flux'], table['decoded_flux'])


def test_crowded_scene_both_choices_and_cutouts():
    image, sources, centers = make_sersic_scene((64, 64), 12, seed=7)
    tables = {}
    for choice in ('nearest', 'most_flux'):
        table = encoding_efficacy(sources, centers, shape=image.shape,
                                  contributor_choice=choice)
        assert len(table) == 12
        # flux is conserved by construction, whatever the choice
        assert table.meta['flux_conservation'] <= 1e-6
        assert np.sum(table['decoded_flux']) == pytest.approx(
            image.sum(), rel=1e-6)
        assert np.all((table['ks_pvalue'] >= 0) & (table['ks_pvalue'] <= 1))
        tables[choice] = table
    # the most-flux choice loses less flux to the wrong source
    assert (tables['most_flux'].meta['flux_mae']
            <= tables['nearest'].meta['flux_mae'])
    # the (N, h, w) array form gives the same numbers as cutouts
    frames = np.array([s.to_frame(image.shape) for s in sources])
    table = encoding_efficacy(frames, centers, contributor_choice='nearest')
    np.testing.assert_allclose(table['decoded_flux'],
                               tables['nearest']['decoded_flux'], rtol=1e-9)
    summary = efficacy_summary(table)
    assert summary['n_sources'] == 12
    assert set(PAPER_TABLE2) >= {'flux_mae', 'ks_pvalue_mean'}


def test_source_without_flux_in_frame_and_no_sources():
    shape = (20, 20)
    images = np.zeros((2, 20, 20))
    images[0] = _gaussian(shape, (10, 10), 2.0)
    centers = np.array([[10.0, 10.0], [-30.0, 5.0]])
    table = encoding_efficacy(images, centers)
    assert table['true_flux'][1] == 0
    assert np.isnan(table['ks_pvalue'][1]) and np.isnan(table['r90'][1])
    assert table.meta['n_evaluated'] == 1
    empty = encoding_efficacy(np.zeros((0, 20, 20)), np.zeros((0, 2)))
    assert len(empty) == 0 and np.isnan(empty.meta['ks_pvalue_mean'])


def test_encoding_efficacy_bad_input():
    images = np.ones((2, 8, 8))
    centers = np.array([[2.0, 2.0], [5.0, 5.0]])
    with pytest.raises(ValueError, match='contributor_choice must be one of'):
        encoding_efficacy(images, centers, contributor_choice='brightest')
    with pytest.raises(ValueError, match='centers has 1 rows'):
        encoding_efficacy(images, centers[:1])
    with pytest.raises(ValueError, match='data must be finite'):
        encoding_efficacy(images, centers, data=np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match='source_images has frame shape'):
        encoding_efficacy(images, centers, data=np.ones((8, 9)))
    with pytest.raises(ValueError, match='centers must be finite'):
        encoding_efficacy(images, [[0, np.inf], [1, 1]])
    with pytest.raises(ValueError, match='n_contributors must be a positive'):
        encoding_efficacy(images, centers, n_contributors=0)
