"""
The memory a `~pais_deblend.deblend.Deblender` call needs, estimated from
the input's shape before any work, and the guard that refuses a call the
machine cannot hold (`check_memory`): an image too large for one call
fails in a fraction of a second with a message pointing at
`~pais_deblend.mosaic.deblend_mosaic`, instead of a `MemoryError` (or
the kernel's out-of-memory killer) after minutes.

A single call holds several whole-image arrays at once: the float64 copy
of the input and its mask, the network's output (centre map,
contribution vectors and maps of every slot), the detection image and
footprint labels, and the decoded partial form (contributors and
weights), with their temporaries. Their sum grows linearly with the
number of pixels; the network pass adds its tile buffers, which do not.
"""

import os
import resource

import numpy as np

__all__ = ['estimate_peak_memory', 'available_memory', 'check_memory']

#: Bytes per pixel of a one-band image with 3 contributor slots. Measured
#: with a ``Deblender('hst_f160w')`` call (model loaded and warmed up on a
#: 256**2 image first) on simulated ``hst_f160w`` scenes
#: (``simulate_scene``, float32) on CPU, in a fresh process per size:
#:
#: ======  ==============================  ================================
#: side    rise of the peak resident size  peak traced by tracemalloc
#:         (``ru_maxrss`` minus the        (the call's NumPy arrays)
#:         resident size before the call)
#: ======  ==============================  ================================
#: 1024    497 MiB                         --
#: 2048    626 MiB (689 MiB traced)        371 MiB (92.7 bytes per pixel)
#: 4096    1697 MiB (traced)               1475 MiB (92.2 bytes per pixel)
#: ======  ==============================  ================================
#:
#: The arrays take 92 bytes per pixel at both sizes; the resident size
#: grows by 84 bytes per pixel from 2048 to 4096. 100 leaves a margin for
#: the allocator and denser fields.
BYTES_PER_PIXEL = 100

#: The fixed part of the rise with tiles of at most 512 pixels a side:
#: TensorFlow's working memory and the network's tile buffers (the
#: 1024**2 rise less its pixels' share).
FIXED_BYTES = 450 * 2**20

#: The network's working memory per tile-core pixel beyond 512**2 (the
#: activations of a larger tile window). Measured on 4096 x 4096
#: ``hst_f160w`` fields: the network pass's peak resident size rose by
#: 763 MiB from tiles of 512 to tiles of 2048 with the bundled
#: ``hst_f160w`` (204 bytes per added core pixel) and by about 1.7 GB
#: with ``hst_f160w_v1`` (440 bytes); 450 covers both.
TILE_BYTES_PER_PIXEL = 450

#: Bytes per pixel for each band beyond the first (the float64 copy, the
#: normalised float32 input and their temporaries) and for each
#: contributor slot beyond 3 (a slot's contribution vector and map from
#: the network, its decoded label and weight, and temporaries); with
#: per-band contribution maps (multi-band models with that head) each
#: slot also holds a float32 weight per band twice (network logits and
#: decoded ``band_weights``). Counted from the arrays, not measured.
BYTES_PER_BAND = 24
BYTES_PER_SLOT = 48
BYTES_PER_SLOT_BAND = 8

#: The share of the available memory a call may plan to use.
USABLE_FRACTION = 0.9


def estimate_peak_memory(shape, *, n_bands=1, n_contributors=3,
                         tile_size=2048, band_maps=False):
    """
    The peak memory a `~pais_deblend.deblend.Deblender` call adds, bytes.

    Parameters
    ----------
    shape : tuple of int
        The (h, w) or (h, w, b) shape of the input.
    n_bands : int, optional
        The bands the model reads.
    n_contributors : int, optional
        The contributor slots kept per pixel.
    tile_size : int, optional
        The network pass's tile side.
    band_maps : bool, optional
        Whether the model has per-band contribution maps.

    Returns
    -------
    peak : int
        Bytes: for the bundled ``hst_f160w`` model a little above what
        was measured (see `BYTES_PER_PIXEL`).
    """
    pixels = int(shape[0]) * int(shape[1])
    per_pixel = (BYTES_PER_PIXEL + BYTES_PER_BAND * (n_bands - 1)
                 + BYTES_PER_SLOT * (n_contributors - 3))
    if band_maps:
        per_pixel += BYTES_PER_SLOT_BAND * n_contributors * n_bands
    # a tile is never larger than the image
    core = min(tile_size, int(shape[0])) * min(tile_size, int(shape[1]))
    tiles = FIXED_BYTES + TILE_BYTES_PER_PIXEL * max(0, core - 512**2)
    return int(pixels * per_pixel + tiles)


def _meminfo_available():
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_available():
    """What the process's cgroup (v2) still allows, or None."""
    try:
        with open('/sys/fs/cgroup/memory.max') as limit_file:
            limit = limit_file.read().strip()
        if limit == 'max':
            return None
        with open('/sys/fs/cgroup/memory.current') as current_file:
            current = int(current_file.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError):
        return None


def _address_space_available():
    """What ``ulimit -v`` (RLIMIT_AS) still allows, or None."""
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit == resource.RLIM_INFINITY:
        return None
    try:
        with open('/proc/self/statm') as statm:
            size = int(statm.read().split()[0]) * os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError):
        return None
    return max(limit - size, 0)


def available_memory():
    """
    The memory this process can still use, bytes: the smallest of the
    system's available memory (psutil when installed, else
    ``/proc/meminfo`` MemAvailable, else the physical memory), the
    cgroup limit and the address-space limit.
    """
    try:
        import psutil
    except ImportError:
        system = _meminfo_available()
        if system is None:
            system = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    else:
        system = int(psutil.virtual_memory().available)
    limits = [system, _cgroup_available(), _address_space_available()]
    return min(value for value in limits if value is not None)


def _input_shape(data):
    """The shape of an input without reading it (None when unknown)."""
    from astropy.nddata import NDData

    if isinstance(data, NDData):
        data = data.data
    shape = getattr(data, 'shape', None)
    if shape is None:
        try:
            shape = np.shape(data)
        except (TypeError, ValueError):
            return None
    return tuple(shape) if len(shape) in (2, 3) else None


def check_memory(data, deblender, *, available=None):
    """
    Refuse, before any work, a call on ``data`` that needs more memory
    than this process can use.

    Parameters
    ----------
    data : array_like, `~numpy.memmap`, `~astropy.nddata.NDData` ...
        The input of the call (only its shape is looked at: a memory map
        is not read).
    deblender : `~pais_deblend.deblend.Deblender`
        For its bands, contributor slots and tile size.
    available : int, optional
        Bytes (default: `available_memory`).

    Raises
    ------
    ValueError
        If the estimate (`estimate_peak_memory`) exceeds
        `USABLE_FRACTION` of the available memory.
    """
    shape = _input_shape(data)
    if shape is None:
        return  # the input checks report it
    needed = estimate_peak_memory(
        shape, n_bands=deblender.n_bands,
        n_contributors=deblender.n_contributors,
        tile_size=deblender.tile_size,
        band_maps=bool(getattr(deblender.model, 'band_maps', False)))
    if available is None:
        available = available_memory()
    if needed > USABLE_FRACTION * available:
        msg = (f'an image of {shape[0]} x {shape[1]} pixels needs about '
               f'{needed / 2**30:.1f} GiB in one Deblender call, but '
               f'{available / 2**30:.1f} GiB of memory is available; '
               f'deblend it tile by tile with '
               f'pais_deblend.mosaic.deblend_mosaic (or pais-deblend '
               f'mosaic), which holds one tile at a time')
        raise ValueError(msg)
