"""
Fuzzing the public API with hypothesis.

Feeds generated, often malformed, inputs to the public functions and
checks that each call either returns a valid result or raises one of the
documented exceptions (`TypeError`, `ValueError`, `FileNotFoundError`,
`FileExistsError`, and `OSError` for files). Anything else -- another
exception type, or a result that breaks the documented invariants (a
partial form whose weights are outside [0, 1], do not sum to 1 or are
NaN; a PCR with non-finite values from finite input; NaN metrics from
finite input) -- is a crash. Crashes are collected (not shrunk) so that
one run reports all of them.

Targets: PartialSegmentationImage construction, label operations and
FITS reading of mutated bytes; encode_pcr, decode_pcr and find_centers;
the evaluation metrics; prepare_image; a Deblender with a tiny untrained
network on small arrays (only when TensorFlow is installed).

Usage::

    python tests/fuzz_public_api.py --examples 10000 [--seed 0]
        [--targets decode_pcr find_centers ...] [--no-deblender]

Prints the examples run per target, how many returned and which
documented exceptions were raised, and every crash with its traceback;
exits with status 1 if there was a crash.
"""

import argparse
import collections
import os
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# the tests' own random partial forms (run as a script, this folder is
# first on sys.path)
from conftest import partial_form_from_rng

DOCUMENTED = (TypeError, ValueError, FileNotFoundError, FileExistsError)
# OSError is documented for file readers only
FILE_TARGETS = {'fits_read'}


class InvariantError(AssertionError):
    """A result that breaks a documented invariant (a silent wrong answer)."""


STATS = collections.defaultdict(collections.Counter)
CRASHES = collections.defaultdict(list)
MESSAGES = collections.defaultdict(dict)


def run_case(target, function, *args, **kwargs):
    """Call ``function``; classify and record the outcome."""
    allowed = DOCUMENTED + ((OSError,) if target in FILE_TARGETS else ())
    STATS[target]['examples'] += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with np.errstate(all='ignore'):
                result = function(*args, **kwargs)
    except InvariantError as error:
        STATS[target]['crash'] += 1
        _record(target, error)
        return None
    except allowed as error:
        STATS[target][f'raised {type(error).__name__}'] += 1
        MESSAGES[target].setdefault(type(error).__name__, str(error)[:150])
        return None
    except Exception as error:  # noqa: BLE001 - that is what we look for
        STATS[target]['crash'] += 1
        _record(target, error)
        return None
    STATS[target]['returned'] += 1
    return result


def _record(target, error):
    key = (type(error).__name__, str(error)[:80])
    known = {(c['type'], c['message'][:80]) for c in CRASHES[target]}
    if key not in known and len(CRASHES[target]) < 20:
        CRASHES[target].append({
            'type': type(error).__name__, 'message': str(error),
            'traceback': ''.join(traceback.format_exception(error)[-6:])})


def check(condition, message):
    if not condition:
        raise InvariantError(message)


def check_partial(segmentation, data=None):
    contributors = segmentation.contributors
    weights = segmentation.weights
    check(np.all(np.isfinite(weights)), 'NaN or infinite weights')
    if weights.size:
        check(weights.min() >= 0 and weights.max() <= 1,
              f'weights outside [0, 1]: {weights.min()}, {weights.max()}')
    check(np.all(weights[contributors == 0] == 0), 'weight on empty slot')
    attributed = (contributors > 0).any(axis=-1)
    sums = weights.sum(axis=-1, dtype=np.float64)
    if attributed.any():
        error = np.abs(sums[attributed] - 1).max()
        check(error < 1e-4, f'weights sum to 1 +- {error}')
    dominant = segmentation.data
    check(dominant.shape == contributors.shape[:2], 'dominant map shape')
    check(np.all((dominant > 0) == attributed),
          'dominant map disagrees with the partial form')
    if data is not None:
        for cutout in segmentation.source_images(data).values():
            finite = np.isfinite(np.asarray(data, float)[cutout.slices])
            check(np.all(np.isfinite(cutout.data[finite])),
                  'NaN in a source image of finite data')


# --- strategies --------------------------------------------------------------

DTYPES = st.sampled_from(['<f8', '>f8', '<f4', '>f4', '<i4', '>i2', '<u1',
                          '<i8', '?', '<f2', '<c8', 'O'])
SPECIAL = st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e300,
                           -1e300, 1e-300, 3.4e38, 0.5])


@st.composite
def arrays(draw, min_dims=0, max_dims=4, max_side=9, dtype=None):
    """Arrays of any dtype and shape (mostly small) with special values."""
    dtype = draw(DTYPES) if dtype is None else dtype
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                  min_side=0, max_side=max_side))
    size = int(np.prod(shape))
    values = draw(st.lists(st.one_of(SPECIAL, st.floats(-1e4, 1e4)),
                           min_size=size, max_size=size))
    array = np.array(values, dtype=np.float64).reshape(shape)
    if dtype == 'O':
        return array.astype(object)
    if np.dtype(dtype).kind in 'iub':
        array = np.nan_to_num(array, nan=0, posinf=100, neginf=-100)
        array = np.clip(array, -100, 100)
    with np.errstate(all='ignore'):
        return array.astype(dtype)


@st.composite
def images(draw, max_side=12):
    """Mostly-valid 2-D images: Gaussians, noise, special values, dtypes."""
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(['gaussians', 'noise', 'constant',
                                 'negative', 'special']))
    yy, xx = np.mgrid[:height, :width]
    if kind == 'gaussians':
        image = np.zeros((height, width))
        for _ in range(draw(st.integers(1, 4))):
            cy, cx = rng.uniform(-2, height + 1), rng.uniform(-2, width + 1)
            sigma = rng.uniform(0.5, 4)
            image += rng.uniform(0.1, 100) * np.exp(
                -((yy - cy)**2 + (xx - cx)**2) / (2 * sigma**2))
        image += rng.normal(0, draw(st.sampled_from([0, 0.01, 1])),
                            image.shape)
    elif kind == 'noise':
        image = rng.normal(0, 1, (height, width))
    elif kind == 'constant':
        image = np.full((height, width), draw(SPECIAL))
    elif kind == 'negative':
        image = -np.abs(rng.normal(0, 1, (height, width)))
    else:
        image = rng.choice([0.0, 1.0, np.nan, np.inf, -np.inf, 1e300],
                           size=(height, width))
    if draw(st.booleans()):
        holes = rng.random((height, width)) < 0.1
        image = np.where(holes, np.nan, image)
    dtype = draw(st.sampled_from(['<f8', '>f8', '<f4', '>f4', '<i4']))
    if np.dtype(dtype).kind == 'i':
        image = np.clip(np.nan_to_num(image), -1e6, 1e6)
    with np.errstate(all='ignore'):
        return image.astype(dtype)


@st.composite
def partial_forms(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    return partial_form_from_rng(rng, shape, draw(st.integers(1, 3)),
                              draw(st.integers(1, 6)),
                              draw(st.sampled_from([0.0, 0.2, 1.0])))


LABEL_ARGUMENTS = st.one_of(
    st.integers(-3, 10), st.integers(2**24 - 2, 2**40), st.floats(-2, 8),
    st.lists(st.integers(0, 8), max_size=4), st.just('a'), st.none(),
    st.just(True), st.just(np.array([[1, 2]])))


# --- targets -------------------------------------------------------------------

def target_partial_construct(data):
    from pais_deblend.segmentation import PartialSegmentationImage

    if data.draw(st.booleans()):
        contributors, weights = data.draw(partial_forms())
        mutation = data.draw(st.sampled_from(
            ['none', 'dtype', 'value', 'shape', 'centers']))
        if mutation == 'dtype':
            contributors = contributors.astype(data.draw(DTYPES))
            weights = weights.astype(data.draw(DTYPES))
        elif mutation == 'value':
            index = tuple(data.draw(st.integers(0, s - 1))
                          for s in weights.shape)
            weights = weights.copy()
            weights[index] = data.draw(SPECIAL)
            contributors = contributors.copy()
            contributors[index] = data.draw(st.integers(-2, 2**31 - 1))
        elif mutation == 'shape':
            weights = weights[..., :max(1, weights.shape[-1] - 1)]
    else:
        contributors = data.draw(arrays(dtype=data.draw(st.sampled_from(
            ['<i4', '>i4', '<i8', '<u2', '<f8', '?']))))
        weights = data.draw(arrays())
    centers = data.draw(st.one_of(
        st.none(), st.none(), st.dictionaries(st.integers(0, 9), st.tuples(
            st.floats(allow_nan=True), st.floats(allow_nan=True)),
            max_size=3), st.just([1, 2]), st.just({1: (1.0,)})))
    copies = (np.array(contributors, copy=True), np.array(weights, copy=True))

    def call():
        result = PartialSegmentationImage(contributors, weights,
                                          centers=centers)
        check_partial(result)
        return result

    run_case('PartialSegmentationImage', call)
    _check_unmodified('PartialSegmentationImage', copies,
                      (contributors, weights))


def _check_unmodified(target, copies, arrays_after):
    for before, after in zip(copies, arrays_after):
        after = np.asarray(after)
        if before.dtype.kind == 'O' or not np.array_equal(
                before, after, equal_nan=before.dtype.kind in 'fc'):
            if before.dtype.kind == 'O' and before.shape == after.shape:
                continue
            STATS[target]['crash'] += 1
            _record(target, InvariantError('input modified in place'))


def target_label_operations(data):
    from pais_deblend.segmentation import PartialSegmentationImage

    contributors, weights = data.draw(partial_forms())
    segmentation = PartialSegmentationImage(contributors, weights)
    for _ in range(data.draw(st.integers(1, 4))):
        operation = data.draw(st.sampled_from(
            ['remove_labels', 'keep_labels', 'reassign_labels',
             'relabel_consecutive', 'remove_masked_labels', 'weight_map',
             'getitem', 'source_images']))
        argument = data.draw(LABEL_ARGUMENTS)
        relabel = data.draw(st.booleans())

        def call():
            nonlocal segmentation
            if operation == 'reassign_labels':
                segmentation.reassign_labels(argument, data.draw(
                    LABEL_ARGUMENTS), relabel=relabel)
            elif operation == 'relabel_consecutive':
                segmentation.relabel_consecutive(argument)
            elif operation == 'remove_masked_labels':
                mask = data.draw(arrays(dtype=data.draw(st.sampled_from(
                    ['?', '<i4']))))
                if data.draw(st.booleans()):
                    mask = np.zeros(segmentation.shape, bool)
                    mask[:1] = True
                segmentation.remove_masked_labels(mask, relabel=relabel)
            elif operation == 'weight_map':
                segmentation.weight_map(argument)
            elif operation == 'getitem':
                key = data.draw(st.one_of(
                    st.tuples(st.slices(10), st.slices(10)),
                    st.just((0, 0)), st.just(slice(1))))
                segmentation = segmentation[key]
            elif operation == 'source_images':
                frame = data.draw(images())
                if data.draw(st.booleans()):
                    frame = np.ones(segmentation.shape)
                segmentation.source_images(frame)
                check_partial(segmentation, frame)
            else:
                getattr(segmentation, operation)(argument, relabel=relabel)
            check_partial(segmentation)

        run_case('label operations', call)


def target_fits_read(data, workdir):
    from pais_deblend.segmentation import PartialSegmentationImage

    contributors, weights = data.draw(partial_forms())
    path = os.path.join(workdir, 'original.fits')
    original = PartialSegmentationImage(contributors, weights,
                                        centers={1: (0.5, 1.5)})
    original.write(path, overwrite=True)
    with open(path, 'rb') as handle:
        raw = bytearray(handle.read())
    mutation = data.draw(st.sampled_from(
        ['truncate', 'flip', 'zero block', 'insert', 'header', 'none']))
    if mutation == 'truncate':
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif mutation == 'flip':
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(raw) - 1))
            raw[position] ^= data.draw(st.integers(1, 255))
    elif mutation == 'zero block':
        start = data.draw(st.integers(0, len(raw) - 1))
        raw[start:start + data.draw(st.integers(1, 3000))] = b'\0' * len(
            raw[start:start + 3000])
    elif mutation == 'insert':
        position = data.draw(st.integers(0, len(raw)))
        raw[position:position] = data.draw(st.binary(min_size=1,
                                                     max_size=100))
    elif mutation == 'header':
        # rewrite one NAXISn of an extension to a huge value
        text = raw.decode('ascii', errors='replace')
        key = data.draw(st.sampled_from(['NAXIS1', 'NAXIS2', 'NAXIS3',
                                         'BITPIX']))
        start = text.find(key, 2880)
        if start >= 0:
            value = data.draw(st.sampled_from([0, 1, -32, 99, 10**6,
                                               2**31 - 1]))
            raw[start:start + 80] = f'{key:<8}= {value:>20}'.ljust(80).encode()
    damaged = os.path.join(workdir, 'damaged.fits')
    with open(damaged, 'wb') as handle:
        handle.write(bytes(raw))

    def call():
        result = PartialSegmentationImage.read(damaged)
        # whatever reads must be a valid partial form; an unmutated file
        # the original
        check_partial(result)
        if mutation == 'none':
            check(np.array_equal(result.weights, original.weights),
                  'round trip changed the weights')
        return result

    run_case('fits_read', call)
    run_case('fits_read', PartialSegmentationImage.read,
             data.draw(st.sampled_from([os.path.join(workdir, 'missing.fits'),
                                        workdir, None, 3, b'\0'])))


CENTER_LISTS = st.one_of(
    st.lists(st.tuples(st.floats(-5, 20), st.floats(-5, 20)), max_size=6),
    st.lists(st.tuples(st.floats(allow_nan=True, allow_infinity=True),
                       st.floats(allow_nan=True, allow_infinity=True)),
             max_size=3),
    st.just({1: (1, 1)}), st.just('centres'), st.just([[1, 2, 3]]),
    st.just(np.zeros((0, 2))))


def target_encode(data):
    from pais_deblend.pcr import encode_pcr

    if data.draw(st.booleans()):
        centers = data.draw(st.lists(st.tuples(st.floats(-5, 20),
                                               st.floats(-5, 20)),
                                     min_size=1, max_size=5))
        frame = data.draw(images())
        rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
        source_images = np.stack([frame.astype(np.float64)
                                  * rng.random(frame.shape)
                                  for _ in centers])
        if data.draw(st.booleans()):
            source_images = source_images.astype(data.draw(st.sampled_from(
                ['>f4', '<i4', '<f2'])))
    else:
        source_images = data.draw(st.one_of(arrays(), st.just([]),
                                            st.just('images')))
        centers = data.draw(CENTER_LISTS)
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        'n_contributors': st.one_of(st.integers(-1, 5), st.just(2.5)),
        'sigma': st.one_of(st.floats(allow_nan=True), st.just(1e-300)),
        'truncate': st.floats(-1, 1e300),
        'contributor_choice': st.sampled_from(['nearest', 'most_flux',
                                               'brightest']),
        'shape': st.one_of(st.none(), st.tuples(st.integers(-1, 12),
                                                st.integers(-1, 12)),
                           st.just((10**8, 10**8)))}))
    def call():
        pcr = encode_pcr(source_images, centers, **kwargs)
        # non-finite source pixels count as 0: the PCR is always finite
        for name in ('center_of_mass', 'contribution_vectors',
                     'contribution_maps'):
            check(np.all(np.isfinite(getattr(pcr, name))),
                  f'non-finite {name}')
        maps = pcr.contribution_maps
        if maps.size and len(pcr.centers):
            check(maps.min() >= 0 and maps.max() <= 1 + 1e-6,
                  'C^m outside [0, 1]')
            check(np.allclose(maps.sum(axis=-1), 1, atol=1e-5),
                  'C^m does not sum to 1')
        return pcr

    run_case('encode_pcr', call)


def target_decode(data):
    from pais_deblend.pcr import PCR, decode_pcr, encode_pcr

    height = data.draw(st.integers(1, 10))
    width = data.draw(st.integers(1, 10))
    n = data.draw(st.integers(1, 3))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    if data.draw(st.booleans()):
        centers = rng.uniform(-3, max(height, width) + 3,
                              (data.draw(st.integers(1, 4)), 2))
        images_ = rng.random((len(centers), height, width))
        pcr = encode_pcr(images_, centers, n_contributors=n)
    else:
        special = data.draw(SPECIAL)
        vectors = rng.normal(0, 5, (height, width, n, 2))
        maps = rng.normal(0, 2, (height, width, n))
        for array in (vectors, maps):
            array[rng.random(array.shape) < 0.1] = special
        pcr = PCR(rng.random((height, width)), vectors, maps,
                  maps_are_logits=data.draw(st.booleans()))
        centers = rng.uniform(-3, 12, (data.draw(st.integers(0, 4)), 2))
    frame = rng.normal(size=(height, width))
    if data.draw(st.booleans()):
        frame = data.draw(images())
    kwargs = {}
    if data.draw(st.booleans()):
        kwargs['centers'] = (centers if data.draw(st.booleans())
                             else data.draw(CENTER_LISTS))
    if data.draw(st.booleans()):
        kwargs['mask'] = (rng.random((height, width)) < 0.3
                          if data.draw(st.booleans())
                          else data.draw(arrays(dtype='?')))
    if data.draw(st.booleans()):
        kwargs['footprint'] = (rng.random((height, width)) < 0.7
                               if data.draw(st.booleans())
                               else data.draw(arrays()))
    if data.draw(st.booleans()):
        kwargs['threshold'] = data.draw(st.floats(allow_nan=True))
        kwargs['min_separation'] = data.draw(st.integers(-1, 10**6))
    frame_copy = np.array(frame, copy=True)

    def call():
        result = decode_pcr(pcr, frame, **kwargs)
        check_partial(result, frame if np.shape(frame)[:2] == (height, width)
                      else None)
        return result

    run_case('decode_pcr', call)
    _check_unmodified('decode_pcr', [frame_copy], [frame])


def target_find_centers(data):
    from pais_deblend.pcr import find_centers

    image = data.draw(st.one_of(images(), arrays()))
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        'threshold': st.floats(allow_nan=True, allow_infinity=True),
        'min_separation': st.one_of(st.integers(-1, 10**12), st.just(1.5)),
        'subpixel': st.one_of(st.booleans(), st.just(1))}))
    copy = np.array(image, copy=True)

    def call():
        centers = find_centers(image, **kwargs)
        check(centers.ndim == 2 and centers.shape[1] == 2, 'centres shape')
        check(np.all(np.isfinite(centers)), 'non-finite centre')
        return centers

    run_case('find_centers', call)
    _check_unmodified('find_centers', [copy], [image])


def target_evaluation(data):
    from pais_deblend import evaluation as ev
    from pais_deblend.segmentation import PartialSegmentationImage

    name = data.draw(st.sampled_from([
        'flux_conservation', 'match_sources', 'detection_scores',
        'r90_ks_test', 'flux_radius', 'relative_flux_error',
        'reconstruction_error', 'blendedness', 'encoding_efficacy',
        'average_precision', 'truth_masks']))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    frame = data.draw(images(max_side=10))
    positions = data.draw(st.one_of(
        st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)),
                 max_size=8),
        CENTER_LISTS))
    others = data.draw(st.lists(st.tuples(st.floats(-50, 50),
                                          st.floats(-50, 50)), max_size=8))
    radius = data.draw(st.one_of(st.floats(-1, 100), st.just(np.nan)))
    center = data.draw(st.one_of(st.tuples(st.floats(-5, 15),
                                           st.floats(-5, 15)),
                                 st.just((np.nan, 1.0)), st.just('c')))

    def call():
        if name == 'flux_conservation':
            contributors, weights = partial_form_from_rng(
                rng, np.shape(frame)[:2], 2, 3)
            value = ev.flux_conservation(
                PartialSegmentationImage(contributors, weights), frame)
            check(value >= 0 and not np.isnan(value), f'L1 = {value}')
            return value
        if name == 'match_sources':
            return ev.match_sources(positions, others, max_distance=radius)
        if name == 'detection_scores':
            scores = ev.detection_scores(positions, others,
                                         max_distance=radius)
            for value in scores[:3]:
                check(0 <= value <= 1, f'score {value}')
            return scores
        if name == 'r90_ks_test':
            other = np.abs(np.asarray(frame, np.float64))
            return ev.r90_ks_test(frame, other, center)
        if name == 'flux_radius':
            return ev.flux_radius(frame, center,
                                  fraction=data.draw(st.floats(-1, 2)))
        if name == 'relative_flux_error':
            return ev.relative_flux_error(
                data.draw(arrays(max_dims=2)), data.draw(arrays(max_dims=2)))
        if name == 'reconstruction_error':
            return ev.reconstruction_error(frame, data.draw(images(10)))
        if name == 'blendedness':
            stack = np.stack([frame, np.abs(np.asarray(frame, float))])
            return ev.blendedness(stack)
        if name == 'encoding_efficacy':
            stack = np.abs(np.stack([np.asarray(frame, float)] * 2))
            if data.draw(st.booleans()):
                positions_ = rng.uniform(-2, 12, (2, 2))
            else:
                positions_ = positions
            return ev.encoding_efficacy(stack * rng.random(stack.shape),
                                        positions_)
        if name == 'truth_masks':
            return ev.truth_masks(np.stack([frame]), threshold=radius)
        masks = rng.random((3,) + np.shape(frame)[:2]) < 0.5
        return ev.average_precision(masks, masks[::-1],
                                    scores=data.draw(st.one_of(
                                        st.none(), st.lists(
                                            st.floats(allow_nan=True),
                                            min_size=3, max_size=3))))

    run_case(f'evaluation.{name}', call)


def target_prepare_image(data):
    from astropy import units as u
    from astropy.nddata import NDData, StdDevUncertainty

    from pais_deblend.deblend.inputs import prepare_image

    frame = data.draw(st.one_of(images(), arrays()))
    wrapper = data.draw(st.sampled_from(['none', 'masked', 'quantity',
                                         'nddata']))
    mask = data.draw(st.one_of(st.none(), st.none(), st.none(),
                               arrays(dtype='?'), arrays(dtype='<i4')))
    if wrapper == 'masked' and isinstance(frame, np.ndarray):
        frame = np.ma.array(frame, mask=np.zeros(frame.shape, bool))
    elif wrapper == 'quantity' and np.asarray(frame).dtype.kind in 'biuf':
        frame = frame * data.draw(st.sampled_from([u.Jy, u.deg, u.m]))
    elif wrapper == 'nddata':
        try:
            frame = NDData(frame, uncertainty=StdDevUncertainty(
                -np.abs(np.asarray(frame, float)))
                if data.draw(st.booleans()) else None)
        except Exception:  # noqa: BLE001 - NDData refused it: not ours
            return
    n_bands = data.draw(st.integers(1, 3))
    copy = np.array(getattr(frame, 'data', frame), copy=True)

    def call():
        image = prepare_image(frame, mask=mask, n_bands=n_bands)
        check(np.all(np.isfinite(image.data)), 'non-finite prepared data')
        check(image.mask.shape == image.data.shape[:2], 'mask shape')
        check(not image.mask.all(), 'no usable pixel but no error')
        return image

    run_case('prepare_image', call)
    _check_unmodified('prepare_image', [copy],
                      [getattr(frame, 'data', frame)])


_DEBLENDER = []


def get_deblender():
    if not _DEBLENDER:
        from pais_deblend.deblend import Deblender
        from pais_deblend.model import build_pais_model

        model = build_pais_model(filters=[4, 8], attention_window=3, seed=0)
        _DEBLENDER.append(Deblender(model, detection_threshold=0.05,
                                    progress_bar=False))
    return _DEBLENDER[0]


def target_deblender(data):
    deblender = get_deblender()
    frame = data.draw(st.one_of(images(max_side=24), arrays(max_side=6)))
    kwargs = data.draw(st.fixed_dictionaries({}, optional={
        'n_pixels': st.one_of(st.integers(-1, 20), st.just(2.5)),
        'connectivity': st.sampled_from([4, 8, 6]),
        'mask': st.one_of(st.none(), st.none(), arrays(dtype='?')),
        'relabel': st.booleans()}))
    copy = np.array(frame, copy=True)

    def call():
        result = deblender(frame, **kwargs)
        if result is not None:
            check_partial(result, frame)
            check(result.partial_labels.size > 0, 'empty result not None')
        return result

    run_case('Deblender', call)
    _check_unmodified('Deblender', [copy], [frame])


TARGETS = {
    'PartialSegmentationImage': (target_partial_construct, 2),
    'label_operations': (target_label_operations, 2),
    'fits_read': (None, 2),
    'encode_pcr': (target_encode, 2),
    'decode_pcr': (target_decode, 2),
    'find_centers': (target_find_centers, 1),
    'evaluation': (target_evaluation, 2),
    'prepare_image': (target_prepare_image, 1),
    'Deblender': (target_deblender, 1),
}


def run_target(name, function, n_examples, seed_value):
    @hypothesis_seed(seed_value)
    @settings(max_examples=n_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(st.data())
    def fuzz(data):
        function(data)

    fuzz()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--examples', type=int, default=1000,
                        help='total example budget, shared by the targets')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--targets', nargs='+', choices=sorted(TARGETS),
                        default=sorted(TARGETS))
    parser.add_argument('--verbose', action='store_true',
                        help='print one message of each documented '
                        'exception per function')
    parser.add_argument('--no-deblender', action='store_true',
                        help='skip the Deblender target (no TensorFlow)')
    args = parser.parse_args(argv)
    targets = [t for t in args.targets
               if not (t == 'Deblender' and args.no_deblender)]
    if 'Deblender' in targets:
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            print('TensorFlow not installed: skipping the Deblender target')
            targets.remove('Deblender')
    total_weight = sum(TARGETS[t][1] for t in targets)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for name in targets:
            function, weight = TARGETS[name]
            if name == 'fits_read':
                def function(data, _workdir=workdir):
                    target_fits_read(data, _workdir)
            budget = max(1, round(args.examples * weight / total_weight))
            start = time.perf_counter()
            before = sum(c['examples'] for c in STATS.values())
            run_target(name, function, budget, args.seed)
            after = sum(c['examples'] for c in STATS.values())
            print(f'{name:<26} budget {budget:>6}  calls {after - before:>6}'
                  f'  {time.perf_counter() - start:7.1f} s', flush=True)
    elapsed = time.perf_counter() - started

    print(f'\nfuzz_public_api: --examples {args.examples} --seed {args.seed}'
          f' ({elapsed:.0f} s)')
    print(f'{"function":<34}{"calls":>7}{"returned":>10}{"crashes":>9}  '
          'documented exceptions')
    total_calls = total_crashes = 0
    for name in sorted(STATS):
        counts = STATS[name]
        raised = ', '.join(f'{key[7:]} {value}' for key, value in
                           sorted(counts.items())
                           if key.startswith('raised '))
        print(f'{name:<34}{counts["examples"]:>7}{counts["returned"]:>10}'
              f'{counts["crash"]:>9}  {raised}')
        total_calls += counts['examples']
        total_crashes += counts['crash']
    print(f'{"total":<34}{total_calls:>7}{"":>10}{total_crashes:>9}')
    if args.verbose:
        for name in sorted(MESSAGES):
            for kind, message in sorted(MESSAGES[name].items()):
                print(f'  {name}: {kind}: {message}')
    for name, crashes in sorted(CRASHES.items()):
        for crash in crashes:
            print(f'\nCRASH in {name}: {crash["type"]}: '
                  f'{crash["message"][:300]}\n{crash["traceback"]}')
    return 1 if total_crashes else 0


if __name__ == '__main__':
    sys.exit(main())
