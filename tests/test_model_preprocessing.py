"""
Tests of the NumPy-only parts of pais_deblend.model: normalisation,
augmentation and the training-data stream (no TensorFlow needed).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pais_deblend.model.augmentation import (augment_array, augment_centers,
                                             augment_sample, augment_vectors)
from pais_deblend.model.data import (BatchStream, ShardDataset,
                                     balance_pixel_weight,
                                     make_training_sample, write_shard)
from pais_deblend.model.normalization import (NORMALIZATION_METHODS,
                                              estimate_noise, normalize_image)


def gaussian_scene(shape=(32, 40), n_sources=4, seed=0, noise=0.05,
                   n_bands=1):
    """Seeded scene of round Gaussian sources: image, source images, centres."""
    rng = np.random.default_rng(seed)
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    centers = np.column_stack([rng.uniform(2, height - 3, n_sources),
                               rng.uniform(2, width - 3, n_sources)])
    sources = []
    for (cy, cx) in centers:
        flux = rng.uniform(1, 10)
        width_px = rng.uniform(1.5, 3.0)
        profile = flux * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                / (2 * width_px ** 2))
        if n_bands > 1:
            profile = profile[..., None] * rng.uniform(0.5, 1.5, n_bands)
        sources.append(profile)
    sources = np.array(sources)
    image = sources.sum(axis=0) + noise * rng.standard_normal(
        sources.shape[1:])
    return image.astype(np.float32), sources, centers


# --------------------------------------------------------------------------
# normalisation

def test_noise_estimate_matches_gaussian_noise():
    rng = np.random.default_rng(1)
    image = 0.3 * rng.standard_normal((200, 200))
    image[90:110, 90:110] += 50.0  # a bright source barely moves the MAD
    sigma = estimate_noise(image)
    assert sigma.shape == (1,)
    assert sigma[0] == pytest.approx(0.3, rel=0.05)


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-6, 1e6), seed=st.integers(0, 1000))
def test_normalization_is_unit_invariant(scale, seed):
    image, _, _ = gaussian_scene(seed=seed, n_bands=2)
    reference = normalize_image(image)
    scaled = normalize_image(image * scale)
    np.testing.assert_allclose(scaled, reference, rtol=1e-5, atol=1e-5)


def test_normalization_per_band_and_shapes():
    image, _, _ = gaussian_scene(n_bands=3)
    image = image * np.array([1.0, 1e3, 1e-3])  # bands in different units
    normalized = normalize_image(image)
    assert normalized.shape == image.shape
    assert normalized.dtype == np.float32
    # each band's noise maps to about 1/softening
    for band in range(3):
        assert estimate_noise(normalized[..., band])[0] == pytest.approx(
            1 / 3, rel=0.3)
    # 2-D input gives one band; the input is not modified
    flat = image[..., 0].copy()
    assert normalize_image(flat).shape == flat.shape + (1,)
    np.testing.assert_array_equal(flat, image[..., 0])


def test_normalization_nan_mask_and_degenerate_images():
    image, _, _ = gaussian_scene()
    image[3, 4] = np.nan
    mask = np.zeros(image.shape, dtype=bool)
    mask[5, 6] = True
    normalized = normalize_image(image, mask=mask)
    assert np.all(np.isfinite(normalized))
    assert normalized[3, 4, 0] == 0 and normalized[5, 6, 0] == 0
    # all-zero and mostly-zero images do not divide by zero
    assert np.all(normalize_image(np.zeros((8, 8))) == 0)
    sparse = np.zeros((16, 16))
    sparse[4, 4], sparse[9, 9] = 5.0, 7.0
    assert np.all(np.isfinite(normalize_image(sparse)))
    # explicit noise_sigma is used as given
    np.testing.assert_allclose(
        normalize_image(np.full((4, 4), 6.0), noise_sigma=2.0,
                        softening=3.0), np.arcsinh(1.0), rtol=1e-6)


def test_normalization_bad_input():
    with pytest.raises(ValueError, match='softening'):
        normalize_image(np.ones((4, 4)), softening=0)
    with pytest.raises(ValueError, match='noise_sigma'):
        normalize_image(np.ones((4, 4, 2)), noise_sigma=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match='noise_sigma'):
        normalize_image(np.ones((4, 4)), noise_sigma=-1.0)
    with pytest.raises(ValueError, match='image'):
        normalize_image(np.ones(4))
    with pytest.raises(TypeError, match='image'):
        normalize_image('image')
    with pytest.raises(ValueError, match='mask'):
        normalize_image(np.ones((4, 4)), mask=np.ones((3, 3), bool))


def asinh_reference(image, noise_sigma, softening=3.0, mask=None):
    """Slow per-pixel reference of the asinh stretch (float32 result)."""
    bands = np.asarray(image, dtype=np.float64)
    if bands.ndim == 2:
        bands = bands[..., np.newaxis]
    sigma = np.broadcast_to(np.asarray(noise_sigma, dtype=np.float64),
                            bands.shape[2:])
    out = np.zeros(bands.shape, dtype=np.float32)
    for iy in range(bands.shape[0]):
        for ix in range(bands.shape[1]):
            if mask is not None and mask[iy, ix]:
                continue
            for band in range(bands.shape[2]):
                value = np.arcsinh(bands[iy, ix, band]
                                   / (softening * sigma[band]))
                out[iy, ix, band] = value if np.isfinite(value) else 0.0
    return out


@pytest.mark.parametrize('n_bands', [0, 1, 3])
@pytest.mark.parametrize('dtype', [np.float32, np.float64])
@pytest.mark.parametrize('serial', [False, True])
def test_asinh_normalization_with_noise_matches_reference(
        n_bands, dtype, serial, monkeypatch):
    # a given noise_sigma takes the one-pass numba kernel (its parallel
    # form above SERIAL_PIXELS pixels): the same float32 values
    from pais_deblend.utils import _numba_serial

    if not serial:
        monkeypatch.setattr(_numba_serial, 'SERIAL_PIXELS', 0)
    image, _, _ = gaussian_scene(n_bands=3, seed=4)
    image = (image[..., :n_bands] if n_bands else image[..., 0]).astype(dtype)
    image[2, 3] = np.nan
    image[4, 5] = np.inf
    mask = np.zeros(image.shape[:2], dtype=bool)
    mask[6:9, 1:4] = True
    noise = [0.05, 0.1, 0.2][:max(n_bands, 1)]
    before = image.copy()
    result = normalize_image(image, noise_sigma=noise, mask=mask)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(
        result, asinh_reference(image, noise, mask=mask))
    np.testing.assert_array_equal(image, before)
    with pytest.raises(ValueError, match='mask'):
        normalize_image(image, noise_sigma=noise,
                        mask=np.zeros((3, 3), dtype=bool))


def lupton_reference(image, noise_sigma, softening=3.0):
    """Slow per-pixel reference of the Lupton et al. (2004) stretch."""
    image = np.asarray(image, dtype=np.float64)
    out = np.zeros(image.shape)
    for iy in range(image.shape[0]):
        for ix in range(image.shape[1]):
            scaled = image[iy, ix] / (softening * np.asarray(noise_sigma))
            intensity = scaled.mean()
            factor = 1.0 if intensity == 0 else (np.arcsinh(intensity)
                                                 / intensity)
            out[iy, ix] = scaled * factor
    return out


def test_normalization_methods_constant():
    assert NORMALIZATION_METHODS == ('asinh', 'lupton')


def test_lupton_normalization_matches_reference_and_keeps_colours():
    image, _, _ = gaussian_scene(n_bands=3, seed=4)
    image = image * np.array([1.0, 1e2, 1e-2])  # bands in different units
    sigma = estimate_noise(image)
    normalized = normalize_image(image, method='lupton')
    assert normalized.shape == image.shape and normalized.dtype == np.float32
    np.testing.assert_allclose(normalized, lupton_reference(image, sigma),
                               rtol=1e-6, atol=1e-6)
    # every band of a pixel is multiplied by the same factor: the ratios
    # between bands in noise units (the colours) are kept exactly, where
    # the per-band stretch compresses the brighter band more
    scaled = image / (3.0 * sigma)
    bright = np.abs(scaled).min(axis=2) > 1.0
    assert bright.sum() > 10
    kept = normalized[bright] / normalized[bright][:, :1]
    np.testing.assert_allclose(kept, (scaled[bright]
                                      / scaled[bright][:, :1]), rtol=1e-5)
    asinh = normalize_image(image)
    per_band = asinh[bright] / asinh[bright][:, :1]
    assert np.max(np.abs(per_band - scaled[bright] / scaled[bright][:, :1])
                  ) > 0.1
    # the explicit default is today's per-band stretch, bit for bit
    np.testing.assert_array_equal(
        normalize_image(image, method='asinh'),
        np.arcsinh(image / (3.0 * sigma)).astype(np.float32))


def test_lupton_normalization_single_band_and_equal_bands():
    image, _, _ = gaussian_scene(seed=2)
    np.testing.assert_array_equal(normalize_image(image, method='lupton'),
                                  normalize_image(image, method='asinh'))
    np.testing.assert_array_equal(
        normalize_image(image[..., None], method='lupton', noise_sigma=0.1),
        normalize_image(image, method='asinh', noise_sigma=0.1))
    # bands equal in noise units: the stretch of their mean is each one's
    stacked = np.stack([image, 2 * image, 0.5 * image], axis=-1)
    np.testing.assert_allclose(
        normalize_image(stacked, method='lupton',
                        noise_sigma=[0.1, 0.2, 0.05]),
        np.repeat(normalize_image(image, noise_sigma=0.1), 3, axis=2),
        rtol=1e-6, atol=1e-7)


def test_lupton_normalization_zero_negative_nan_and_mask():
    noise = [1.0, 2.0]
    # I = 0 (all zero, or bands cancelling), tiny and negative intensities
    image = np.array([[[0.0, 0.0], [3.0, -6.0], [1e-12, 2e-12]],
                      [[-30.0, -12.0], [-3.0, 0.0], [1e-3, -1e-3]]])
    normalized = normalize_image(image, noise_sigma=noise, method='lupton')
    assert np.all(np.isfinite(normalized))
    np.testing.assert_array_equal(normalized[0, 0], [0, 0])
    # I = 0 with non-zero bands: factor 1, the bands are kept linear
    np.testing.assert_allclose(normalized[0, 1], [1.0, -1.0], rtol=1e-6)
    np.testing.assert_allclose(normalized[0, 2], [1e-12 / 3, 1e-12 / 3],
                               rtol=1e-6)
    # the factor is even in I: negative pixels mirror positive ones
    np.testing.assert_allclose(
        normalized[1, 0],
        -normalize_image(-image[1:, :1], noise_sigma=noise,
                         method='lupton')[0, 0], rtol=1e-6)
    np.testing.assert_allclose(normalized, lupton_reference(image, noise),
                               rtol=1e-6, atol=1e-12)
    # a NaN band or a masked pixel zeroes the pixel in every band
    scene, _, _ = gaussian_scene(n_bands=2, seed=3)
    scene[3, 4, 1] = np.nan
    scene[7, 8, 0] = np.inf
    mask = np.zeros(scene.shape[:2], dtype=bool)
    mask[5, 6] = True
    out = normalize_image(scene, mask=mask, method='lupton')
    assert np.all(np.isfinite(out))
    for pixel in ((3, 4), (5, 6), (7, 8)):
        np.testing.assert_array_equal(out[pixel], [0, 0])
    assert np.count_nonzero(np.all(out == 0, axis=2)) == 3
    assert np.all(normalize_image(np.zeros((8, 8, 3)), method='lupton') == 0)
    # the input is not modified
    assert np.isnan(scene[3, 4, 1])


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-6, 1e6), seed=st.integers(0, 1000),
       n_bands=st.integers(1, 4))
def test_lupton_normalization_is_unit_invariant(scale, seed, n_bands):
    image, _, _ = gaussian_scene(seed=seed, n_bands=n_bands)
    reference = normalize_image(image, method='lupton')
    np.testing.assert_allclose(normalize_image(image * scale,
                                               method='lupton'),
                               reference, rtol=1e-5, atol=1e-5)
    # with the noise given, scaled along with the image
    sigma = estimate_noise(image)
    given_noise = normalize_image(image, noise_sigma=sigma, method='lupton')
    np.testing.assert_allclose(
        normalize_image(image * scale, noise_sigma=sigma * scale,
                        method='lupton'), given_noise, rtol=1e-5, atol=1e-5)


def test_normalization_method_bad_input():
    with pytest.raises(ValueError, match="method must be one of 'asinh', "
                       "'lupton', got 'sdss'"):
        normalize_image(np.ones((4, 4)), method='sdss')
    with pytest.raises(ValueError, match='method must be one of'):
        normalize_image(np.ones((4, 4)), method=None)
    with pytest.raises(ValueError, match='softening'):
        normalize_image(np.ones((4, 4, 2)), softening=-1, method='lupton')
    with pytest.raises(ValueError, match='noise_sigma'):
        normalize_image(np.ones((4, 4, 2)), noise_sigma=[1.0, 0.0],
                        method='lupton')


# --------------------------------------------------------------------------
# augmentation

@pytest.mark.parametrize('transform', range(8))
def test_augmentation_commutes_with_encoding(transform):
    from pais_deblend.pcr import encode_pcr

    shape = (28, 36)
    image, sources, centers = gaussian_scene(shape, n_sources=5, seed=3)
    pcr = encode_pcr(sources, centers, n_contributors=3, sigma=3.0)
    labels = {'image': image[..., None],
              'center_of_mass': pcr.center_of_mass,
              'contribution_vectors': pcr.contribution_vectors,
              'contribution_maps': pcr.contribution_maps}
    augmented = augment_sample(labels, transform)

    moved_sources = np.array([augment_array(s, transform) for s in sources])
    moved_centers = augment_centers(centers, shape, transform)
    expected = encode_pcr(moved_sources, moved_centers, n_contributors=3,
                          sigma=3.0)
    np.testing.assert_allclose(augmented['center_of_mass'],
                               expected.center_of_mass, atol=1e-6)
    np.testing.assert_allclose(augmented['contribution_vectors'],
                               expected.contribution_vectors, atol=1e-4)
    np.testing.assert_allclose(augmented['contribution_maps'],
                               expected.contribution_maps, atol=1e-6)
    np.testing.assert_array_equal(
        augmented['image'][..., 0], augment_array(image, transform))


def test_augmentation_group_structure():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 7, 3, 2))
    # four quarter turns are the identity, and a flip is an involution
    turned = vectors
    for _ in range(4):
        turned = augment_vectors(turned, 1)
    np.testing.assert_array_equal(turned, vectors)
    np.testing.assert_array_equal(
        augment_vectors(augment_vectors(vectors, 4), 4), vectors)
    # all 8 transforms of an asymmetric array are distinct
    array = np.arange(12.0).reshape(3, 4)
    seen = {augment_array(array, t).tobytes() + bytes(augment_array(
        array, t).shape) for t in range(8)}
    assert len(seen) == 8
    # the centre map of a point follows the point
    centers = np.array([[0.0, 3.0]])
    moved = augment_centers(centers, (3, 4), 1)
    point = np.zeros((3, 4))
    point[0, 3] = 1
    assert augment_array(point, 1)[tuple(moved[0].astype(int))] == 1


def test_augmentation_bad_input():
    with pytest.raises(ValueError, match='transform'):
        augment_array(np.zeros((3, 3)), 8)
    with pytest.raises(TypeError, match='transform'):
        augment_array(np.zeros((3, 3)), 1.5)
    with pytest.raises(ValueError, match='vectors'):
        augment_vectors(np.zeros((3, 3, 3)), 1)


# --------------------------------------------------------------------------
# training data

def write_dataset(directory, n_shards=3, per_shard=2, shape=(32, 32),
                  n_bands=1):
    seed = 0
    for shard in range(n_shards):
        samples = []
        for _ in range(per_shard):
            image, sources, centers = gaussian_scene(shape, seed=seed,
                                                     n_bands=n_bands)
            samples.append(make_training_sample(image, sources, centers,
                                                sigma=3.0, seed=seed))
            seed += 1
        write_shard(directory / f'shard_{shard:03d}.npz', samples)
    return directory


def test_training_sample_and_shards(tmp_path):
    image, sources, centers = gaussian_scene(n_bands=2)
    sample = make_training_sample(image, sources, centers, sigma=3.0,
                                  seed=7)
    assert sample['image'].shape == (32, 40, 2)
    assert sample['contribution_vectors'].shape == (32, 40, 3, 2)
    weight = sample['pixel_weight']
    assert set(np.unique(weight)) <= {0.0, 1.0}
    assert 0 < weight.mean() < 1
    for cy, cx in centers:
        assert weight[int(round(cy)), int(round(cx))] == 1

    write_dataset(tmp_path, n_shards=3, per_shard=2)
    dataset = ShardDataset(tmp_path)
    assert len(dataset) == 6 and dataset.counts == [2, 2, 2]
    assert dataset[3]['seed'] == 3
    assert dataset.seeds() == list(range(6))
    train, validation = dataset.split(0.3)
    assert list(validation) == [4, 5] and list(train) == [0, 1, 2, 3]

    with pytest.raises(ValueError, match='validation_fraction'):
        dataset.split(1.5)
    with pytest.raises(FileNotFoundError, match='source'):
        ShardDataset(tmp_path / 'missing')
    np.savez(tmp_path / 'bad.npz', image=np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match='lacks'):
        ShardDataset(tmp_path)


def test_batch_stream_is_deterministic(tmp_path):
    write_dataset(tmp_path, n_shards=2, per_shard=3)
    dataset = ShardDataset(tmp_path)
    stream = BatchStream(dataset, batch_size=4, seed=5, crop_size=24)
    images, labels = stream.batch(3)
    assert images.shape == (4, 24, 24, 1)
    assert labels['contribution_vectors'].shape == (4, 24, 24, 3, 2)
    assert labels['pixel_weight'].shape == (4, 24, 24)
    again = BatchStream(ShardDataset(tmp_path), batch_size=4, seed=5,
                        crop_size=24)
    images2, labels2 = again.batch(3)
    np.testing.assert_array_equal(images, images2)
    for key in labels:
        np.testing.assert_array_equal(labels[key], labels2[key])
    # each epoch visits every sample once
    seen = np.concatenate([stream.sample_indices(step)[:2]
                           for step in range(0)] + [
        BatchStream(dataset, batch_size=2, seed=1).sample_indices(step)
        for step in range(3)])
    assert sorted(seen.tolist()) == list(range(6))
    with pytest.raises(ValueError, match='crop_size'):
        BatchStream(dataset, batch_size=1, crop_size=64).batch(0)


def test_batch_stream_normalization(tmp_path):
    write_dataset(tmp_path, n_shards=1, per_shard=2, n_bands=3)
    dataset = ShardDataset(tmp_path)
    options = dict(batch_size=2, seed=0, augment=False)
    default = BatchStream(dataset, **options)
    lupton = BatchStream(dataset, normalization='lupton', **options)
    assert default.normalization == 'asinh'
    images, _ = lupton.batch(0)
    expected = [normalize_image(dataset[int(i)]['image'], method='lupton')
                for i in lupton.sample_indices(0)]
    np.testing.assert_array_equal(images, np.stack(expected))
    assert not np.allclose(images, default.batch(0)[0])
    with pytest.raises(ValueError, match="normalization must be one of "
                       ".*got 'luptn'"):
        BatchStream(dataset, normalization='luptn')


def _two_source_sample():
    """A wide source and a compact one, labels from encode_pcr."""
    from pais_deblend.pcr import encode_pcr

    yy, xx = np.mgrid[:48, :48]
    centers = np.array([[20.3, 18.6], [33.2, 36.4]])
    widths = (7.0, 1.2)
    sources = np.array([10 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                    / (2 * w ** 2))
                        for (cy, cx), w in zip(centers, widths)])
    pcr = encode_pcr(sources, centers, n_contributors=3, sigma=3.0)
    dominant = sources.argmax(axis=0)
    weight = (sources.sum(axis=0) > 0.05).astype(np.float32)
    return {'pixel_weight': weight,
            'contribution_vectors': pcr.contribution_vectors,
            'contribution_maps': pcr.contribution_maps}, dominant


def test_balance_pixel_weight_equalises_sources():
    sample, dominant = _two_source_sample()
    weight = sample['pixel_weight']
    np.testing.assert_array_equal(balance_pixel_weight(sample, 0.0), weight)
    balanced = balance_pixel_weight(sample, 1.0)
    on = weight > 0
    totals = [balanced[on & (dominant == i)].sum() for i in (0, 1)]
    areas = [np.sum(on & (dominant == i)) for i in (0, 1)]
    assert areas[0] > 20 * areas[1]
    # every source gets the same total weight (the median area each)
    np.testing.assert_allclose(totals[0], totals[1], rtol=1e-5)
    np.testing.assert_allclose(totals[0], np.median(areas), rtol=1e-5)
    half = balance_pixel_weight(sample, 0.5)
    ratio = half[on & (dominant == 1)].mean() / half[on & (dominant == 0)
                                                     ].mean()
    np.testing.assert_allclose(ratio, np.sqrt(areas[0] / areas[1]),
                               rtol=1e-5)
    # sky pixels stay at 0, the input is not modified
    assert not balanced[~on].any()
    np.testing.assert_array_equal(sample['pixel_weight'], weight)
    empty = dict(sample, pixel_weight=np.zeros_like(weight))
    assert not balance_pixel_weight(empty, 1.0).any()


def test_batch_stream_source_balance(tmp_path):
    write_dataset(tmp_path, n_shards=1, per_shard=2)
    dataset = ShardDataset(tmp_path)
    options = dict(batch_size=2, seed=0, augment=False)
    plain = BatchStream(dataset, **options).batch(0)[1]
    balanced = BatchStream(dataset, source_balance=1.0, **options).batch(0)[1]
    for index, sample in enumerate(BatchStream(dataset, **options)
                                   .sample_indices(0)):
        expected = balance_pixel_weight(dataset[int(sample)], 1.0)
        np.testing.assert_allclose(balanced['pixel_weight'][index],
                                   expected, rtol=1e-6)
    assert not np.allclose(balanced['pixel_weight'], plain['pixel_weight'])
    np.testing.assert_array_equal(balanced['contribution_maps'],
                                  plain['contribution_maps'])
    with pytest.raises(ValueError, match='source_balance'):
        BatchStream(dataset, source_balance=-1.0)


def test_reads_simulation_training_set_format(tmp_path):
    # the layout of pais_deblend.simulation.dataset shards: float16 labels,
    # scene_index, concatenated catalog columns, no pixel weight
    samples = [make_training_sample(*gaussian_scene(seed=s), sigma=3.0)
               for s in range(3)]
    n_sources = np.array([4, 4, 4])
    np.savez(tmp_path / 'shard_00000.npz',
             image=np.stack([s['image'] for s in samples]),
             center_of_mass=np.stack(
                 [s['center_of_mass'] for s in samples]).astype(np.float16),
             contribution_vectors=np.stack(
                 [s['contribution_vectors'] for s in samples]).astype(
                     np.float16),
             contribution_maps=np.stack(
                 [s['contribution_maps'] for s in samples]).astype(
                     np.float16),
             scene_index=np.array([10, 11, 12]), n_sources=n_sources,
             centers=np.zeros((12, 2)), flux=np.ones((12, 1)))
    (tmp_path / 'manifest.json').write_text('{"preset": "hst_f160w"}')
    dataset = ShardDataset(tmp_path)
    assert len(dataset) == 3 and dataset.manifest['preset'] == 'hst_f160w'
    assert dataset.seeds() == [10, 11, 12]
    sample = dataset[1]
    assert sample['seed'] == 11
    # derived weight: pixels reached by source light
    weight = sample['pixel_weight']
    assert weight.shape == (32, 40) and 0 < weight.mean() <= 1
    assert np.all(weight[samples[1]['pixel_weight'] > 0] == 1)
    images, labels = BatchStream(dataset, batch_size=2, seed=0).batch(0)
    assert labels['contribution_maps'].dtype == np.float32
