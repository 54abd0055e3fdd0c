"""
`deblend_mosaic`: deblend an image larger than memory tile by tile, in
this process or on a Dask cluster, into a Zarr store.

Three passes (see docs/mosaic.rst):

1. every tile runs the `~pais_deblend.deblend.Deblender` pipeline on its
   extended region (core plus margin) with the noise of the whole image,
   decodes its core with local labels, writes them to the store (with
   the per-band weights when the model has per-band maps) and returns its
   centres, the weight sum of each local label and, with a star/galaxy
   head, the star probability of each centre;
2. on the client: centres are owned by the tile whose core holds them and
   numbered globally (keeping the owner's star probability); a tile's
   other centres (in its margin) are matched to their owner's by
   position; sources whose summed effective area is below ``n_pixels``
   are dropped, the rest numbered 1..N;
3. every tile rewrites its stored labels through its local-to-global
   table (dropped labels hand their weight to the pixel's other
   contributors, as `PartialSegmentationImage.remove_labels` does; the
   per-band weights follow band by band, as the slots they align with
   move).

Nothing larger than one extended tile is held in memory by any process.
"""

import errno
import math
import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np

from ..deblend.core import MODEL_DEFAULT
from ..utils._io import remove_stale_temporaries, writer_tag
from ..utils._optional_deps import require
from ..utils._progress import progress_bar as _progress_bar
from ..utils._validation import (check_at_most, check_finite_float,
                                 check_in, check_positive_int)
from ..utils.exceptions import NoDetectionWarning
from ._sources import open_source
from .plan import TilePlan
from .store import (FORMAT, FORMAT_VERSION, MosaicSegmentation,
                    create_store, integrity_attributes, open_pixel_array,
                    write_sources)

__all__ = ['deblend_mosaic', 'local_client']

#: Pixels sampled for the image-wide noise estimates: up to this many the
#: whole image is used (the same estimate a single `Deblender` call makes
#: when it also has at most a million pixels); above, whole tiles spread
#: over the mosaic.
NOISE_SAMPLE_PIXELS = 16_000_000

#: Extra margin beyond the strict minimum in the default plan: room for the
#: contribution vectors of core pixels that point past the core.
DEFAULT_EXTRA_MARGIN = 64

#: Largest distance (pixels) between a centre found in a tile's margin and
#: the owner's centre it stands for (they come from the same exact network
#: output, so they normally agree to float rounding).
MATCH_TOLERANCE = 1.0

#: The largest tile side and margin, and why (pixels).
LIMITS = {
    'tile_size': (
        8192, 'each task holds its extended tile, about 250 bytes per '
        'pixel, some 17 GiB at this side; run more tiles in parallel '
        'instead'),
    'margin': (
        2048, 'the context around each core: the network sees about 100 '
        'pixels and the default is 152; a wider margin only multiplies '
        'the work of every tile'),
}

# Deblenders of this worker process, keyed by their settings: the model is
# loaded once per worker, never shipped in the task graph.
_DEBLENDERS = {}


@dataclass(frozen=True)
class _Job:
    """What every tile task needs (small and picklable)."""

    store: str
    deblender_key: tuple
    noise_sigma: tuple
    detection_noise: float
    n_pixels: int
    connectivity: int
    guard: int
    shape: tuple
    plan: dict
    source: object = None  # a portable source, or None
    heads: bool = False  # the model has per-band maps or a star head


def _deblender(key, model=None):
    """The cached `Deblender` for ``key`` (model, then its settings)."""
    deblender = _DEBLENDERS.get(key)
    if deblender is None:
        from ..deblend import Deblender

        (name, n_contributors, detection_threshold, min_separation,
         footprint_threshold, footprint_smoothing, tile_size,
         normalization, attribution, companion_threshold) = key
        deblender = Deblender(
            name if model is None else model, n_contributors=n_contributors,
            detection_threshold=detection_threshold,
            min_separation=min_separation,
            footprint_threshold=footprint_threshold,
            footprint_smoothing=footprint_smoothing, tile_size=tile_size,
            normalization=normalization, attribution=attribution,
            companion_threshold=companion_threshold, progress_bar=False,
            runtime='tensorflow')
        _DEBLENDERS[key] = deblender
    return deblender


def _model_key(model, client):
    """A name for ``model`` that a worker can load it by."""
    if isinstance(model, os.PathLike) or (
            isinstance(model, str) and model.endswith('.keras')):
        return os.path.abspath(os.fspath(model))
    if isinstance(model, str):
        return model
    if client is not None:
        msg = (f'model must be a bundled model name or the path of a .keras '
               f'file when a Dask client is given (workers load it '
               f'themselves), got {type(model).__name__}')
        raise TypeError(msg)
    return f'<object {id(model)}>'


def _exact_zone(tile, shape, guard):
    """
    The part of the extended region, as local slices, where the network
    output and the peaks equal a single pass: ``guard`` pixels in from
    every side that is not a frame edge.
    """
    zone = []
    for extended, size in zip(tile.extended, shape):
        start = guard if extended.start > 0 else 0
        stop = (extended.stop - extended.start
                - (guard if extended.stop < size else 0))
        zone.append(slice(start, max(start, stop)))
    return tuple(zone)


def _deblend_tile_task(job, tile, region=None):
    """Pass 1 for one tile (runs on a worker); see the module."""
    from ..deblend.inputs import prepare_image
    from ..deblend.pipeline import empty_result, run_pipeline

    deblender = _deblender(job.deblender_key)
    if region is None:
        region = job.source.read(tile.extended)
    bands = region if region.ndim == 3 else region[..., np.newaxis]
    core = tile.core_in_extended
    if not np.isfinite(bands).all(axis=2).any():
        # a blank part of the mosaic (e.g. outside the survey)
        output = empty_result(deblender, [s.stop - s.start for s in core],
                              heads=job.heads)
    else:
        output = run_pipeline(
            deblender, prepare_image(region, n_bands=deblender.n_bands),
            n_pixels=job.n_pixels, connectivity=job.connectivity,
            noise_sigma=np.asarray(job.noise_sigma),
            detection_noise=job.detection_noise, core=core,
            exact=_exact_zone(tile, job.shape, job.guard), heads=job.heads,
            attribution=deblender.attribution,
            companion_threshold=deblender.companion_threshold)
    contributors, weights = output.contributors, output.weights
    centers = output.centers
    open_pixel_array(job.store, 'contributors', 'r+')[tile.core] = (
        contributors)
    open_pixel_array(job.store, 'weights', 'r+')[tile.core] = weights
    if output.band_weights is not None:
        open_pixel_array(job.store, 'band_weights', 'r+')[tile.core] = (
            output.band_weights)
    centers = centers + np.asarray(tile.origin, dtype=np.float64)
    plan = TilePlan.from_dict(job.plan)
    owned = plan.tile_index_of(centers) == tile.index
    areas = np.bincount(contributors.ravel(), weights=weights.ravel(),
                        minlength=len(centers) + 1)
    result = {'index': tile.index, 'centers': centers, 'owned': owned,
              'areas': areas, 'origins': output.origins}
    if output.class_star is not None:
        result['class_star'] = output.class_star
    return result


def _relabel_tile_task(store, core, label_map, band_weights=False):
    """
    Pass 3 for one tile: rewrite its labels through ``label_map`` (and,
    with ``band_weights``, the stored per-band weights alike).
    """
    from ..segmentation.partial import remap_and_merge
    from ..segmentation.partial import remap_band_weights

    contributors_array = open_pixel_array(store, 'contributors', 'r+')
    weights_array = open_pixel_array(store, 'weights', 'r+')
    contributors = np.ascontiguousarray(contributors_array[core],
                                        dtype=np.int32)
    weights = np.ascontiguousarray(weights_array[core], dtype=np.float32)
    if contributors.any():
        label_map = np.asarray(label_map, dtype=np.int32)
        if band_weights:
            # as PartialSegmentationImage's label operations
            band_array = open_pixel_array(store, 'band_weights', 'r+')
            band_array[core] = remap_band_weights(
                contributors, np.asarray(band_array[core], dtype=np.float32),
                label_map)
        # the arrays were read from the store: ours to overwrite
        contributors, weights = remap_and_merge(
            contributors, weights, label_map, in_place=True)
        contributors_array[core] = contributors
        weights_array[core] = weights
    labels = contributors.ravel()
    sums = np.bincount(labels, weights=weights.ravel())
    present = np.flatnonzero(sums[1:] > 0) + 1
    return present, sums[present]


def _unify(results, plan, n_pixels):
    """
    Pass 2: global labels. Returns the per-tile label maps (local label ->
    final label, 0 = dropped), the (N, 2) centres of labels 1..N, their
    (N,) star probabilities (None when the tiles gave none) and their
    (N,) int32 detection flags (how each was found), each the value its
    owner tile found.
    """
    from scipy.spatial import cKDTree

    owned_centers = []
    owner_tile = []
    owned_class_star = []
    owned_origins = []
    for index in range(len(plan)):
        result = results[index]
        owned_centers.append(result['centers'][result['owned']])
        owner_tile.append(np.full(int(result['owned'].sum()), index))
        if 'class_star' in result:
            owned_class_star.append(result['class_star'][result['owned']])
        owned_origins.append(result['origins'][result['owned']])
    owned_centers = (np.concatenate(owned_centers) if owned_centers
                     else np.zeros((0, 2)))
    owner_tile = np.concatenate(owner_tile) if owner_tile else np.zeros(0)
    # global numbering in raster order of the centre pixels, as a single
    # pass numbers them
    pixel = np.rint(owned_centers).astype(np.int64)
    order = np.lexsort((owned_centers[:, 1], owned_centers[:, 0],
                        pixel[:, 1], pixel[:, 0]))
    first_of_tile = np.concatenate(
        [[0], np.cumsum([int(results[i]['owned'].sum())
                         for i in range(len(plan))])])
    trees = {}

    def match(centers):
        """Indices in ``owned_centers`` of centres owned elsewhere (-1: no
        owner's centre within the tolerance)."""
        ids = np.full(len(centers), -1, dtype=np.int64)
        owners = plan.tile_index_of(centers)
        for owner in np.unique(owners):
            start, stop = first_of_tile[owner], first_of_tile[owner + 1]
            if stop == start:
                continue
            if owner not in trees:
                trees[owner] = cKDTree(owned_centers[start:stop])
            which = np.flatnonzero(owners == owner)
            distance, nearest = trees[owner].query(centers[which])
            good = distance <= MATCH_TOLERANCE
            ids[which[good]] = start + nearest[good]
        return ids

    local_ids = {}
    areas = np.zeros(len(order))
    for index in range(len(plan)):
        result = results[index]
        ids = np.full(len(result['centers']), -1, dtype=np.int64)
        start = first_of_tile[index]
        ids[result['owned']] = np.arange(start, first_of_tile[index + 1])
        others = ~result['owned']
        if others.any():
            ids[others] = match(result['centers'][others])
        local_ids[index] = ids
        found = ids >= 0
        np.add.at(areas, ids[found], result['areas'][1:][found])
    # as Deblender: drop sources below n_pixels of effective area (and
    # those without weight anywhere), number the rest consecutively
    keep = (areas >= n_pixels) & (areas > 0)
    final = np.zeros(len(order), dtype=np.int64)
    kept_in_order = order[keep[order]]
    final[kept_in_order] = np.arange(1, len(kept_in_order) + 1)
    label_maps = {}
    for index, ids in local_ids.items():
        label_map = np.zeros(len(ids) + 1, dtype=np.int32)
        label_map[1:] = np.where(ids >= 0, final[np.maximum(ids, 0)], 0)
        label_maps[index] = label_map
    class_star = None
    if owned_class_star:
        class_star = np.concatenate(owned_class_star)[kept_in_order]
    origins = (np.concatenate(owned_origins) if owned_origins
               else np.zeros(0, dtype=np.int32))[kept_in_order]
    return (label_maps, owned_centers[kept_in_order], class_star,
            origins.astype(np.int32, copy=False))


def _noise_tiles(plan):
    """Tiles sampled for the noise estimates (all of a small image)."""
    if np.prod(plan.shape) <= NOISE_SAMPLE_PIXELS:
        return list(plan)
    n_tiles = math.ceil(NOISE_SAMPLE_PIXELS / plan.tile_size**2)
    indices = np.unique(np.linspace(0, len(plan) - 1,
                                    min(n_tiles, len(plan))).round())
    return [plan[int(index)] for index in indices]


def _estimate_noise_levels(source, plan, deblender, noise_sigma,
                           detection_noise, progress_bar):
    """
    The image noise per band and the detection image's noise, estimated
    once for the whole mosaic (`pais_deblend.model.estimate_noise` on the
    pixels of the sampled tile cores) unless given.
    """
    from ..deblend.inputs import prepare_image
    from ..deblend.pipeline import detection_image
    from ..model.normalization import estimate_noise

    n_bands = deblender.n_bands
    tiles = _noise_tiles(plan)
    if noise_sigma is None:
        values = []
        for tile in _progress_bar(tiles, desc='noise', enabled=progress_bar):
            region = source.read(tile.core)
            if not np.isfinite(region).any():
                continue
            image = prepare_image(region, n_bands=n_bands)
            # the prepared data may be a read-only view of the region
            values.append(np.where(image.mask.reshape(-1, 1), np.nan,
                                   image.data.reshape(-1, n_bands)))
        if not values:
            msg = 'data has no usable pixel: every pixel is NaN or infinite'
            raise ValueError(msg)
        noise_sigma = estimate_noise(np.concatenate(values)[:, np.newaxis])
    else:
        from ..model.normalization import check_noise_sigma

        noise_sigma = check_noise_sigma(noise_sigma, n_bands)
    if detection_noise is None:
        # the smoothing reaches 4 sigma (scipy's truncate): this padding
        # gives the core pixels the values of a whole-image detection map
        pad = int(math.ceil(4 * deblender.footprint_smoothing)) + 1
        values = []
        for tile in _progress_bar(tiles, desc='detection noise',
                                  enabled=progress_bar):
            padded = tuple(slice(max(c.start - pad, 0), min(c.stop + pad, n))
                           for c, n in zip(tile.core, plan.shape))
            region = source.read(padded)
            if not np.isfinite(region).any():
                continue
            image = prepare_image(region, n_bands=n_bands)
            mask = image.mask
            detection = detection_image(image.data, noise_sigma, mask,
                                        deblender.footprint_smoothing)
            inner = tuple(slice(c.start - p.start, c.stop - p.start)
                          for c, p in zip(tile.core, padded))
            detection = detection[inner].copy()
            detection[mask[inner]] = np.nan
            values.append(detection.ravel())
        detection_noise = float(estimate_noise(
            np.concatenate(values)[:, np.newaxis])[0])
    else:
        detection_noise = check_finite_float(detection_noise,
                                             'detection_noise', minimum=0)
    return noise_sigma, detection_noise


def _check_plan(plan, shape, factor, minimum_margin):
    if not isinstance(plan, TilePlan):
        msg = f'plan must be a TilePlan, got {type(plan).__name__}'
        raise TypeError(msg)
    if plan.shape != tuple(shape):
        msg = (f'plan has shape {plan.shape} but data has shape '
               f'{tuple(shape)}; they must match')
        raise ValueError(msg)
    for name in ('tile_size', 'margin'):
        value = getattr(plan, name)
        maximum, reason = LIMITS[name]
        check_at_most(value, maximum, name, reason)
        if value % factor:
            msg = (f'plan {name} must be a multiple of the network '
                   f'downsampling factor {factor}, got {value}')
            raise ValueError(msg)
    if plan.margin < minimum_margin:
        msg = (f'plan margin must be at least {minimum_margin} pixels (the '
               f'network receptive field plus the peak window) for the '
               f'tiles to reproduce a single pass, got {plan.margin}')
        raise ValueError(msg)


def _run_tasks(function, calls, *, client, progress_bar, desc, total):
    """
    Run ``function(*args)`` for each ``args`` of the iterable ``calls``,
    in this process or on the client's cluster with a bounded number of
    tasks in flight (so that regions read on the client stay bounded).
    Returns the results in call order.
    """
    if client is None:
        return [function(*args) for args in _progress_bar(
            calls, desc=desc, total=total, enabled=progress_bar)]
    from distributed import as_completed

    limit = 2 * max(1, sum(client.nthreads().values()))
    results = {}
    positions = {}
    pending = as_completed()
    bar = _progress_bar(range(total), desc=desc, total=total,
                        enabled=progress_bar)
    bar_iterator = iter(bar)
    in_flight = 0
    try:
        for position, args in enumerate(calls):
            future = client.submit(function, *args, pure=False)
            positions[future.key] = position
            pending.add(future)
            in_flight += 1
            while in_flight >= limit:
                done = next(pending)
                results[positions[done.key]] = done.result()
                in_flight -= 1
                next(bar_iterator, None)
        for done in pending:
            results[positions[done.key]] = done.result()
            next(bar_iterator, None)
    except BaseException:
        for future in list(pending.futures):
            future.cancel()
        raise
    finally:
        if hasattr(bar, 'close'):
            bar.close()
    return [results[position] for position in range(len(results))]


def _prepare_output(output, overwrite):
    output = os.path.abspath(os.fspath(output))
    if os.path.lexists(output) and not overwrite:
        msg = f'{output!r} already exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    parent = os.path.dirname(output)
    if not os.path.isdir(parent):
        msg = f'the directory of output {output!r} does not exist'
        raise FileNotFoundError(msg)
    return output


def _temporary_store(output):
    """
    Create the folder the store is built in, next to ``output``, after
    removing those that runs killed on this host left there: its name,
    ``.NAME.HOST-PID-XXXXXXXX.tmp``, holds the writer's process.
    """
    remove_stale_temporaries(os.path.dirname(output),
                             _temporary_pattern(output))
    return tempfile.mkdtemp(
        prefix=f'.{os.path.basename(output)}.{writer_tag()}-',
        suffix='.tmp', dir=os.path.dirname(output))


def _temporary_pattern(output):
    """The names of the temporary stores of ``output``."""
    return re.compile(re.escape(f'.{os.path.basename(output)}.')
                      + r'(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[^.]*\.tmp$')


def _move_into_place(temporary, output, overwrite):
    """Rename the finished store to ``output`` (replacing it only when
    allowed); the old one is removed only after the rename."""
    exists = (f'{output!r} already exists; pass overwrite=True to replace '
              'it')
    if not overwrite:
        # an empty folder reserves the name (of two runs, one gets the
        # FileExistsError), then the rename replaces it
        try:
            os.mkdir(output)
        except FileExistsError:  # appeared while we worked
            raise FileExistsError(errno.EEXIST, exists, output) from None
        try:
            os.rename(temporary, output)
        except BaseException:
            os.rmdir(output)
            raise
        return
    if os.path.lexists(output):
        old = tempfile.mkdtemp(prefix=f'.{os.path.basename(output)}.',
                               suffix='.old', dir=os.path.dirname(output))
        os.rmdir(old)
        os.rename(output, old)
        try:
            os.rename(temporary, output)
        except BaseException:
            os.rename(old, output)
            raise
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.remove(old)
    else:
        os.rename(temporary, output)


def _resolved_deblender(model, client, *, network_tile_size, **settings):
    """
    The key of the workers' `Deblender` and the deblender itself, its
    settings resolved (the model's defaults filled in).
    """
    from ..deblend.core import LIMITS as DEBLENDER_LIMITS

    network_tile_size = check_at_most(
        check_positive_int(network_tile_size, 'network_tile_size'),
        DEBLENDER_LIMITS['tile_size'][0], 'network_tile_size',
        DEBLENDER_LIMITS['tile_size'][1])
    key = (_model_key(model, client), settings['n_contributors'],
           settings['detection_threshold'], settings['min_separation'],
           settings['footprint_threshold'], settings['footprint_smoothing'],
           network_tile_size, None, settings['attribution'],
           settings['companion_threshold'])
    deblender = _deblender(key, None if isinstance(
        model, (str, os.PathLike)) else model)
    # the settings the workers use are the resolved ones, whatever their
    # defaults would be
    key = key[:1] + (deblender.n_contributors, deblender.detection_threshold,
                     deblender.min_separation, deblender.footprint_threshold,
                     deblender.footprint_smoothing, deblender.tile_size,
                     deblender.normalization, deblender.attribution,
                     deblender.companion_threshold)
    _DEBLENDERS.setdefault(key, deblender)
    return key, deblender


def _band_maps(deblender):
    """Whether the model has the per-band head."""
    return bool(getattr(deblender.model, 'band_maps', False))


def _classifies(deblender):
    """Whether the model has the star/galaxy head."""
    return bool(getattr(deblender.model, 'classify', False))


def _has_heads(deblender):
    return _band_maps(deblender) or _classifies(deblender)


def _check_bands(source, deblender):
    n_bands = deblender.n_bands
    if len(source.shape) == 3 and source.shape[2] != n_bands or (
            len(source.shape) == 2 and n_bands != 1):
        msg = (f'data must have {n_bands} band(s) for model '
               f'{deblender.model_name!r}, got shape {source.shape}')
        raise ValueError(msg)


def _mosaic_plan(source, deblender, plan, tile_size, margin):
    """
    The checked tile plan (made from ``tile_size`` and ``margin`` unless
    given) and the guard that the exact zone of a tile keeps from its
    edges.
    """
    from ..model.inference import default_overlap

    factor = int(getattr(deblender.model, 'downsampling_factor', 1))
    overlap = default_overlap(deblender.model)
    guard = overlap + deblender.min_separation + 1
    minimum_margin = math.ceil(guard / factor) * factor
    shape = tuple(source.shape[:2])
    if plan is None:
        if margin is None:
            margin = minimum_margin + DEFAULT_EXTRA_MARGIN
        plan = TilePlan(shape, tile_size, margin=margin, multiple_of=factor)
    _check_plan(plan, shape, factor, minimum_margin)
    return plan, guard


def _write_store(job, deblender, plan, source, client, progress_bar):
    """
    Deblend the tiles into the store of ``job``, make the labels unique,
    write the source table and the store's attributes; return the number
    of sources.
    """
    band_maps, classify = _band_maps(deblender), _classifies(deblender)
    group = create_store(job.store, job.shape, deblender.n_contributors,
                         plan.tile_size,
                         n_bands=deblender.n_bands if band_maps else None)

    def first_pass_calls():
        for tile in plan:
            region = None if source.portable else source.read(tile.extended)
            yield job, tile, region

    results = _run_tasks(_deblend_tile_task, first_pass_calls(),
                         client=client, progress_bar=progress_bar,
                         desc='tiles', total=len(plan))
    label_maps, centers, class_star, origins = _unify(results, plan,
                                                      job.n_pixels)
    sums = _run_tasks(
        _relabel_tile_task,
        ((job.store, tile.core, label_maps[tile.index], band_maps)
         for tile in plan),
        client=client, progress_bar=progress_bar, desc='labels',
        total=len(plan))
    effective_areas = np.zeros(len(centers) + 1)
    for labels, values in sums:
        np.add.at(effective_areas, labels, values)
    n_sources = len(centers)
    write_sources(group, np.arange(1, n_sources + 1, dtype=np.int32),
                  centers, effective_areas[1:],
                  class_star=(np.zeros(0) if classify and class_star
                              is None else class_star),
                  detection_flags=origins)
    group.attrs.update(_store_attributes(job, deblender, plan, n_sources))
    if band_maps:
        names = deblender.band_names
        group.attrs['band_names'] = (None if names is None
                                     else [str(n) for n in names])
    return n_sources


def _store_attributes(job, deblender, plan, n_sources):
    """The attributes of a mosaic store: its format and the settings."""
    return {
        'format': FORMAT, 'format_version': FORMAT_VERSION,
        'shape': list(job.shape),
        'n_contributors': deblender.n_contributors,
        'n_sources': n_sources, 'plan': plan.to_dict(),
        'model': deblender.model_name,
        'noise_sigma': list(job.noise_sigma),
        'detection_noise': job.detection_noise,
        'detection_threshold': deblender.detection_threshold,
        'min_separation': deblender.min_separation,
        'footprint_threshold': deblender.footprint_threshold,
        'footprint_smoothing': deblender.footprint_smoothing,
        'n_pixels': job.n_pixels, 'connectivity': job.connectivity,
        'network_tile_size': deblender.tile_size,
        **integrity_attributes()}


def deblend_mosaic(data, output, *, hdu=None, tile_size=2048, margin=None,
                   plan=None, model='hst_f160w', client=None,
                   noise_sigma=None, detection_noise=None,
                   n_contributors=None, detection_threshold=None,
                   min_separation=None, footprint_threshold=None,
                   footprint_smoothing=None, n_pixels=5, connectivity=8,
                   network_tile_size=512, attribution=None,
                   companion_threshold=MODEL_DEFAULT, overwrite=False,
                   progress_bar=True):
    """
    Detect and deblend the sources of an image of any size, tile by tile,
    into a Zarr store read back by region.

    Each tile runs the `~pais_deblend.deblend.Deblender` pipeline
    (Hausen & Robertson 2022, arXiv:2201.04714) on its core plus a margin
    that holds the network's receptive field, so the core pixels get the
    network output of a single pass; sources belong to the tile whose
    core holds their centre, and the labels are made unique across tiles
    (see the user guide, docs/mosaic.rst). With the same ``noise_sigma``
    and ``detection_noise`` the result equals a single `Deblender` call
    on the whole image, labels aside, wherever every footprint region and
    contribution vector reaching a core stays inside its tile's extended
    region, and, with ``attribution='templates'``, every template (at most
    64 pixels from its centre) and its mirror points too, which the
    default margin of the bundled models holds. No process holds more than one extended tile.

    Parameters
    ----------
    data : `~numpy.ndarray`, `numpy.memmap`, dask array, str or path-like
        The background-subtracted image, shape (h, w) (or (h, w, b) for a
        b-band model), any flux unit, NaN for masked pixels: an array, a
        memory map, a dask array, or the path of a FITS file (read by
        section, see ``hdu``) or of a ``.npy`` file (memory-mapped). Files
        and memory maps are read by the workers themselves; other arrays
        are read on the client region by region.
    output : str or path-like
        The Zarr store to write (a directory, e.g. ``'field.zarr'``). It
        is built in a temporary directory next to it
        (``.field.zarr.HOST-PID-XXXXXXXX.tmp``) and renamed into place at
        the end, so an interrupted run leaves no partial store; a run
        removes the temporary stores of ``output`` whose writer (on this
        host) no longer runs.
    hdu : int, str or tuple, optional
        The FITS HDU: an index (0 = primary), an EXTNAME or an
        ``(EXTNAME, EXTVER)`` pair (default: the first 2-dimensional
        image).
    tile_size : int, optional
        The side of the tile cores, pixels, a multiple of the network's
        downsampling factor (8 for the bundled model). Ignored with
        ``plan``. Memory per task grows with (tile_size + 2 margin)**2,
        roughly 250 bytes per pixel of the extended region (the region,
        the network output, the footprint and the decoded core) plus the
        TensorFlow runtime; 2048 is meant for 4 GiB workers (measure
        with ``benchmarks/bench_mosaic.py``); at most 8192.
    margin : int, optional
        The context around each core, pixels. Default: the smallest
        exact margin plus 64 (152 for the bundled model). Ignored with
        ``plan``; at most 2048.
    plan : `TilePlan`, optional
        An explicit plan (its shape must be the image's).
    model : str or path-like, optional
        A bundled model name or a ``.keras`` file; with a ``client`` each
        worker loads it once. In-process (no client) a loaded PAIS model
        is also accepted.
    client : `distributed.Client`, optional
        Run the tiles on this Dask cluster (e.g. from `local_client`);
        the store must be on a file system the workers share. Default:
        tiles run one after another in this process (no Dask needed).
    noise_sigma : float or array_like of shape (b,), optional
        The image noise per band, in the image's unit. Default: a robust
        estimate on the whole image, or on tiles spread over it when it
        has more than 16 million pixels; every tile uses this one value.
    detection_noise : float, optional
        The robust noise of the smoothed noise-weighted detection image
        (the unit of ``footprint_threshold``). Default: estimated like
        ``noise_sigma``.
    n_contributors, detection_threshold, min_separation, footprint_threshold, footprint_smoothing : optional
        As for `~pais_deblend.deblend.Deblender` (default: the model's
        tuned values).
    n_pixels : int, optional
        Sources whose effective area, summed over the whole mosaic, is
        below this many pixels are removed; also the smallest footprint
        region kept.
    connectivity : {8, 4}, optional
        Connectivity of the footprint regions.
    network_tile_size : int, optional
        The tile side of the network pass inside each tile
        (`~pais_deblend.model.predict_pcr`); at most 4096.
    attribution : str, optional
        How pixels are shared among the sources (default: the model's
        own); see `~pais_deblend.deblend.Deblender`.
    companion_threshold : float or None, optional
        The residual companion search (default: the model's own); see
        `~pais_deblend.deblend.Deblender`.
    overwrite : bool, optional
        Replace an existing ``output``.
    progress_bar : bool, optional
        Show progress bars over the tiles.

    Returns
    -------
    mosaic : `MosaicSegmentation`
        The store's reader: ``read(region)`` gives a
        `~pais_deblend.segmentation.PartialSegmentationImage`,
        ``catalog()`` the sources. With a model that has the optional
        heads (e.g. the bundled ``'ground_grz'``) the store also keeps,
        as a single `~pais_deblend.deblend.Deblender` call gives them,
        the per-band weights (``band_weights`` (h, w, n, b), each band's
        flux conserved on its own, with ``band_names``) and the star
        probability of each source (``class_star``, the catalog's
        ``class_star`` column); a single-band model writes neither. How
        each source was found is kept with it (``detection_flags``, as
        `~pais_deblend.segmentation.PartialSegmentationImage.detection_flags`).

    Raises
    ------
    TypeError, ValueError
        For bad input; the message names the parameter.
    FileExistsError
        If ``output`` exists and ``overwrite`` is False, or another run
        wrote it meanwhile (of two runs into one ``output``, one fails).
    OSError
        If ``data`` is a truncated or corrupt FITS file.
    ImportError
        If zarr (or, with a client, distributed) is not installed: the
        ``distributed`` extra, ``pip install 'pais_deblend[distributed]'``.
    """
    require('zarr')
    if client is not None:
        require('distributed')
    output = _prepare_output(output, overwrite)
    source = open_source(data, hdu=hdu)
    from ..deblend.core import check_limit

    n_pixels = check_limit(check_positive_int(n_pixels, 'n_pixels'),
                           'n_pixels')
    check_in(connectivity, (4, 8), 'connectivity')
    key, deblender = _resolved_deblender(
        model, client, network_tile_size=network_tile_size,
        n_contributors=n_contributors,
        detection_threshold=detection_threshold,
        min_separation=min_separation,
        footprint_threshold=footprint_threshold,
        footprint_smoothing=footprint_smoothing, attribution=attribution,
        companion_threshold=companion_threshold)
    _check_bands(source, deblender)
    plan, guard = _mosaic_plan(source, deblender, plan, tile_size, margin)
    noise_sigma, detection_noise = _estimate_noise_levels(
        source, plan, deblender, noise_sigma, detection_noise, progress_bar)

    temporary = _temporary_store(output)
    try:
        job = _Job(store=temporary, deblender_key=key,
                   noise_sigma=tuple(float(s) for s in noise_sigma),
                   detection_noise=float(detection_noise), n_pixels=n_pixels,
                   connectivity=connectivity, guard=guard,
                   shape=tuple(source.shape[:2]), plan=plan.to_dict(),
                   source=source if source.portable else None,
                   heads=_has_heads(deblender))
        n_sources = _write_store(job, deblender, plan, source, client,
                                 progress_bar)
        _move_into_place(temporary, output, overwrite)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    if n_sources == 0:
        warnings.warn('no sources were detected', NoDetectionWarning)
    return MosaicSegmentation(output)


def local_client(n_workers=1, *, memory_limit='4GiB', threads=None):
    """
    Start a `distributed.LocalCluster` of worker processes suited to
    `deblend_mosaic` and return a client to it.

    Each worker runs one task at a time; its TensorFlow, numba and BLAS
    thread pools are sized so that the workers together use the
    machine's cores without oversubscribing them.

    Parameters
    ----------
    n_workers : int, optional
        The number of worker processes.
    memory_limit : str or int, optional
        Per worker (Dask pauses, then restarts, a worker above it).
    threads : int, optional
        Compute threads per worker (default: cores // n_workers, at
        least 1).

    Returns
    -------
    client : `distributed.Client`
        Close it (and its cluster) with ``client.close()`` and
        ``client.cluster.close()``, or use it as a context manager.

    Raises
    ------
    ImportError
        Without the ``distributed`` extra.
    """
    distributed = require('distributed')
    n_workers = check_positive_int(n_workers, 'n_workers')
    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // n_workers)
    threads = check_positive_int(threads, 'threads')
    env = {name: str(threads) for name in (
        'TF_NUM_INTRAOP_THREADS', 'OMP_NUM_THREADS', 'NUMBA_NUM_THREADS',
        'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')}
    env['TF_NUM_INTEROP_THREADS'] = '1'
    env['TF_CPP_MIN_LOG_LEVEL'] = '2'
    env['TF_ENABLE_ONEDNN_OPTS'] = os.environ.get('TF_ENABLE_ONEDNN_OPTS',
                                                  '0')
    cluster = distributed.LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True,
        memory_limit=memory_limit, dashboard_address=None, env=env)
    return distributed.Client(cluster)
