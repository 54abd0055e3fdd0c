"""Tests of the SCARLET (scarlet2) labels for real images."""

import numpy as np
import pytest

pytest.importorskip('galsim')
pytest.importorskip('scarlet2')

from pais_deblend.simulation import (  # noqa: E402
    gaussian_psf_image, scarlet_fraction_maps, simulate_pair)


def test_gaussian_psf_image():
    psf = gaussian_psf_image(3.0)
    assert psf.shape == (13, 13)
    assert psf.sum() == pytest.approx(1.0)
    assert np.unravel_index(psf.argmax(), psf.shape) == (6, 6)
    with pytest.raises(ValueError, match='size must be odd'):
        gaussian_psf_image(3.0, size=12)
    with pytest.raises(ValueError, match='fwhm must be > 0'):
        gaussian_psf_image(0.0)


@pytest.mark.slow
def test_scarlet_fraction_maps_on_simulated_pair():
    scene = simulate_pair('hst_f160w', separation=2.5, flux_ratio=2.0,
                          shape=(40, 40), seed=2, magnitude=22.0)
    labels = scarlet_fraction_maps(scene.image, scene.centers, psf_fwhm=3.0,
                                   max_iter=40, noise_sigma=0.0057)
    assert len(labels.fraction_maps) == len(labels.source_images) == 2
    total = np.zeros(scene.shape)
    for fraction, model in zip(labels.fraction_maps, labels.source_images):
        assert fraction.slices == model.slices
        assert model.data.ndim == 3 and model.data.shape[2] == 1
        assert np.all(model.data >= 0)
        assert np.all((fraction.data >= 0) & (fraction.data <= 1 + 1e-6))
        total[fraction.slices] += fraction.data
    attributed = total > 0
    assert attributed.sum() > 100
    np.testing.assert_allclose(total[attributed], 1.0, atol=1e-5)
    # each source dominates its own centre
    for label, (y, x) in enumerate(np.round(scene.centers).astype(int)):
        own = np.zeros(scene.shape)
        cutout = labels.fraction_maps[label]
        own[cutout.slices] = cutout.data
        assert own[y, x] > 0.5


def test_scarlet_bad_input():
    image = np.zeros((16, 16))
    with pytest.raises(ValueError, match='exactly one of psf_fwhm and psf'):
        scarlet_fraction_maps(image, [[8.0, 8.0]])
    with pytest.raises(ValueError, match='centers must have shape'):
        scarlet_fraction_maps(image, [8.0, 8.0], psf_fwhm=2.0)
    with pytest.raises(ValueError, match='at least one position'):
        scarlet_fraction_maps(image, np.zeros((0, 2)), psf_fwhm=2.0)
    with pytest.raises(ValueError, match='data must be finite'):
        scarlet_fraction_maps(np.full((16, 16), np.nan), [[8.0, 8.0]], psf_fwhm=2.0)
    with pytest.raises(ValueError, match='psf must be'):
        scarlet_fraction_maps(image + 1, [[8.0, 8.0]], psf=np.ones((4, 4)))
