"""
The bundled ``ground_grz`` model: three bands, star/galaxy head, per-band
weights, on simulated scenes with known truth and on the real PhoSim
DECam field.
"""

import os

import numpy as np
import pytest

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
pytest.importorskip('tensorflow')

pytestmark = pytest.mark.filterwarnings(
    'ignore:__array__ implementation:DeprecationWarning')

from pais_deblend import Deblender, PartialSourceCatalog  # noqa: E402
from pais_deblend.model import bundled  # noqa: E402


@pytest.fixture(scope='module')
def deblender():
    return Deblender('ground_grz', progress_bar=False)


def moffat(shape, center, fwhm, beta=3.5):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    profile = (1 + ((yy - center[0]) ** 2 + (xx - center[1]) ** 2)
               / alpha ** 2) ** -beta
    return profile / profile.sum()


def test_ground_grz_is_bundled_with_its_card():
    assert 'ground_grz' in bundled.available_models()
    card = bundled.bundled_model_card('ground_grz')
    assert card['preset'] == 'ground_grz'
    assert card['architecture']['n_bands'] == 3
    assert card['architecture']['classify'] is True
    assert card['architecture']['band_maps'] is True
    assert card['model_sha256'] == bundled.BUNDLED_MODELS['ground_grz'][
        'sha256']
    assert bundled.BUNDLED_MODELS['ground_grz']['band_names'] == ['g', 'r',
                                                                   'z']


def test_wrong_band_count_is_refused(deblender):
    with pytest.raises(ValueError, match='3'):
        deblender(np.zeros((32, 32)))


def test_star_and_galaxy_with_their_colours(deblender):
    """A blue point source beside a red extended galaxy: both found, the
    star classified as a star and the galaxy as a galaxy, each band's
    flux conserved, and the colours of the two kept apart."""
    rng = np.random.default_rng(0)
    shape = (64, 64)
    sigma = np.array([0.0087, 0.0166, 0.0403])  # the preset's noise
    star = moffat(shape, (30.0, 26.0), 3.5)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    radius = np.hypot((yy - 33.0) / 1.0, (xx - 38.0) / 0.6)
    galaxy = np.exp(-radius / 2.5)
    galaxy /= galaxy.sum()
    star_flux = np.array([6.0, 4.0, 3.0])     # blue
    galaxy_flux = np.array([3.0, 6.0, 10.0])  # red
    image = (star[..., None] * star_flux + galaxy[..., None] * galaxy_flux
             + rng.normal(0, 1, (*shape, 3)) * sigma)
    segmentation = deblender(image)
    assert segmentation is not None
    centers = {label: np.array(center)
               for label, center in segmentation.centers.items()
               if label in segmentation.partial_labels}

    def nearest(position):
        labels = list(centers)
        distances = [np.hypot(*(centers[k] - position)) for k in labels]
        assert min(distances) < 2.5
        return labels[int(np.argmin(distances))]

    star_label = nearest((30.0, 26.0))
    galaxy_label = nearest((33.0, 38.0))
    assert star_label != galaxy_label
    assert segmentation.class_star[star_label] > 0.5
    assert segmentation.class_star[galaxy_label] < 0.5
    # every band is conserved on its own
    attributed = segmentation.contributors[..., 0] > 0
    total = np.zeros_like(image)
    for label in segmentation.partial_labels:
        cutout = segmentation.source_image(label, image)
        total[cutout.slices] += cutout.data
    np.testing.assert_allclose(total[attributed], image[attributed],
                               rtol=1e-5, atol=1e-9)
    # the colours come out in the right order
    catalog = PartialSourceCatalog(image, segmentation)
    table = catalog.to_table(['label', 'segment_flux_g', 'segment_flux_z',
                              'class_star'])
    rows = {int(row['label']): row for row in table}
    star_colour = rows[star_label]['segment_flux_g'] / rows[star_label][
        'segment_flux_z']
    galaxy_colour = rows[galaxy_label]['segment_flux_g'] / rows[
        galaxy_label]['segment_flux_z']
    assert star_colour > 1.0 > galaxy_colour


def test_phosim_decam_field(deblender):
    """The real PhoSim field (a 256 x 256 corner, to keep the test short):
    sources found, each with a class and per-band weights that conserve
    every band."""
    from pais_deblend.datasets import load_phosim_decam

    image = load_phosim_decam().image[:256, :256]
    segmentation = deblender(image)
    assert segmentation.partial_labels.size >= 5
    assert segmentation.band_names == ('g', 'r', 'z')
    assert set(segmentation.class_star) == set(
        segmentation.partial_labels.tolist())
    attributed = segmentation.contributors[..., 0] > 0
    np.testing.assert_allclose(
        segmentation.band_weights.sum(axis=2)[attributed], 1.0, atol=1e-5)
