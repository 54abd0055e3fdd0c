"""
The `PCR` container and the input checks shared by the PCR functions.
"""

import numpy as np

from ..utils._validation import as_positions, check_positive_int

__all__ = ['PCR']


class PCR:
    """
    A Partial Contribution Representation (PCR) of an image.

    The PCR (Hausen & Robertson 2022, arXiv:2201.04714, section 2) is a
    fixed-size encoding of a variable number of per-source fraction maps
    M_i with ``n`` contributors per pixel: a centre-of-mass map, the
    offsets from each pixel to its ``n`` contributors, and the fraction of
    the pixel's flux that each contributor owns.

    Parameters
    ----------
    center_of_mass : array_like
        Shape (h, w). C^c: a unit-peak 2-D Gaussian at every source centre,
        overlaps combined by their maximum. Stored as float32.
    contribution_vectors : array_like
        Shape (h, w, n, 2). C^v: offsets (dy, dx) = centre - pixel, in pixels,
        to each pixel's ``n`` contributors, nearest first. Stored as float32.
    contribution_maps : array_like
        Shape (h, w, n). C^m: the fraction of the pixel's flux owned by each
        contributor (summing to 1 over the ``n`` slots), or unnormalised
        logits when ``maps_are_logits`` is True (network output). Stored as
        float32.
    maps_are_logits : bool, optional
        Whether ``contribution_maps`` holds logits; `decode_pcr` then
        applies a softmax over the slots.
    centers : array_like, optional
        Shape (N, 2). The (y, x) source centres the PCR was encoded from, if
        known.

    Notes
    -----
    The arrays are converted to float32 (a copy only when the input had
    another type) and never modified by the package.
    """

    def __init__(self, center_of_mass, contribution_vectors,
                 contribution_maps, *, maps_are_logits=False, centers=None):
        center_of_mass = _as_float32(center_of_mass, 'center_of_mass')
        contribution_vectors = _as_float32(contribution_vectors,
                                           'contribution_vectors')
        contribution_maps = _as_float32(contribution_maps,
                                        'contribution_maps')
        if center_of_mass.ndim != 2:
            msg = ('center_of_mass must be 2-dimensional (h, w), got shape '
                   f'{center_of_mass.shape}')
            raise ValueError(msg)
        if contribution_maps.ndim != 3:
            msg = ('contribution_maps must be 3-dimensional (h, w, n), got '
                   f'shape {contribution_maps.shape}')
            raise ValueError(msg)
        if contribution_vectors.ndim != 4 or contribution_vectors.shape[3] != 2:
            msg = ('contribution_vectors must have shape (h, w, n, 2), got '
                   f'shape {contribution_vectors.shape}')
            raise ValueError(msg)
        shape = center_of_mass.shape
        if contribution_maps.shape[:2] != shape:
            msg = (f'contribution_maps has shape {contribution_maps.shape} '
                   f'but center_of_mass has shape {shape}; the first two '
                   'axes must match')
            raise ValueError(msg)
        if contribution_vectors.shape[:3] != contribution_maps.shape:
            msg = ('contribution_vectors has shape '
                   f'{contribution_vectors.shape} but contribution_maps has '
                   f'shape {contribution_maps.shape}; expected (h, w, n, 2) '
                   'with the same (h, w, n)')
            raise ValueError(msg)
        if contribution_maps.shape[2] < 1:
            msg = 'contribution_maps must have at least one slot (n >= 1)'
            raise ValueError(msg)
        if not isinstance(maps_are_logits, (bool, np.bool_)):
            msg = f'maps_are_logits must be a bool, got {maps_are_logits!r}'
            raise TypeError(msg)
        self.center_of_mass = center_of_mass
        self.contribution_vectors = contribution_vectors
        self.contribution_maps = contribution_maps
        self.maps_are_logits = bool(maps_are_logits)
        self.centers = None if centers is None else as_centers(centers)

    @property
    def n_contributors(self):
        """The number ``n`` of contributor slots per pixel."""
        return self.contribution_maps.shape[2]

    @property
    def shape(self):
        """The (h, w) shape of the image."""
        return self.center_of_mass.shape

    def fractions(self):
        """
        The contribution maps as fractions, shape (h, w, n) float32.

        A softmax over the slots when ``maps_are_logits`` (NaN logits
        count as -inf), otherwise a copy of ``contribution_maps``.
        """
        if not self.maps_are_logits:
            return self.contribution_maps.copy()
        from ._reference import reference_softmax

        return reference_softmax(self.contribution_maps).astype(np.float32)

    def crop(self, region):
        """
        The PCR of a region of the image.

        Parameters
        ----------
        region : tuple of 2 slice
            (rows, columns), with unit steps.

        Returns
        -------
        pcr : `PCR`
            C-contiguous arrays (no copy when ``region`` is the whole
            image).
        """
        return PCR(np.ascontiguousarray(self.center_of_mass[region]),
                   np.ascontiguousarray(self.contribution_vectors[region]),
                   np.ascontiguousarray(self.contribution_maps[region]),
                   maps_are_logits=self.maps_are_logits)

    def top_slot_order(self, n_contributors):
        """
        The indices of the ``n_contributors`` most likely slots of each
        pixel, in the PCR's own slot order (nearest first), shape
        (h, w, n_contributors).
        """
        order = np.argsort(-self.contribution_maps, axis=-1,
                           kind='stable')[..., :n_contributors]
        order.sort(axis=-1)
        return order

    def keep_top_slots(self, n_contributors):
        """
        The PCR reduced to the ``n_contributors`` most likely slots of
        each pixel (the largest contribution maps), in their slot order.

        Parameters
        ----------
        n_contributors : int
            Between 1 and `n_contributors`.

        Returns
        -------
        pcr : `PCR`
            ``self`` when nothing is dropped, else a new PCR (the
            centre-of-mass map is shared, not copied).
        """
        n_contributors = self._check_slot_count(n_contributors)
        if n_contributors == self.n_contributors:
            return self
        order = self.top_slot_order(n_contributors)
        maps = np.take_along_axis(self.contribution_maps, order, axis=-1)
        vectors = np.take_along_axis(self.contribution_vectors,
                                     order[..., np.newaxis], axis=-2)
        return PCR(self.center_of_mass, vectors, maps,
                   maps_are_logits=self.maps_are_logits,
                   centers=self.centers)

    def keep_top_band_slots(self, band_maps, n_contributors):
        """
        Per-band contribution maps reduced to the slots that
        `keep_top_slots` keeps.

        Parameters
        ----------
        band_maps : `~numpy.ndarray`, shape (h, w, b, n)
            Per-band contribution maps (or logits) with this PCR's slots.
        n_contributors : int
            As for `keep_top_slots`.

        Returns
        -------
        band_maps : `~numpy.ndarray`, shape (h, w, b, n_contributors)
        """
        n_contributors = self._check_slot_count(n_contributors)
        band_maps = np.asarray(band_maps)
        if (band_maps.ndim != 4 or band_maps.shape[:2] != self.shape
                or band_maps.shape[3] != self.n_contributors):
            msg = (f'band_maps must have shape (h, w, b, n) = '
                   f'{self.shape + ("b", self.n_contributors)}, got '
                   f'{band_maps.shape}')
            raise ValueError(msg)
        if n_contributors == self.n_contributors:
            return band_maps
        order = self.top_slot_order(n_contributors)
        return np.take_along_axis(band_maps, order[:, :, np.newaxis, :],
                                  axis=-1)

    def _check_slot_count(self, n_contributors):
        n_contributors = check_positive_int(n_contributors, 'n_contributors')
        if n_contributors > self.n_contributors:
            msg = (f'n_contributors must be at most the PCR\'s '
                   f'{self.n_contributors} slots, got {n_contributors}')
            raise ValueError(msg)
        return n_contributors

    def __repr__(self):
        n_centers = 'unknown' if self.centers is None else len(self.centers)
        return (f'<PCR shape={self.shape} n_contributors='
                f'{self.n_contributors} maps_are_logits='
                f'{self.maps_are_logits} n_centers={n_centers}>')


def _as_float32(array, name):
    if isinstance(array, (str, bytes)) or array is None:
        msg = f'{name} must be an array, got {array!r}'
        raise TypeError(msg)
    array = np.asarray(array)
    if array.dtype.kind not in 'biuf':
        msg = f'{name} must hold real numbers, got dtype {array.dtype}'
        raise TypeError(msg)
    return np.asarray(array, dtype=np.float32)


#: The largest absolute centre coordinate accepted, pixels. Centres may
#: lie outside the frame, but the nearest-centre tiles span the frame and
#: every centre: a centre at 1e12 took minutes to index, one at 1e300
#: overflowed.
MAX_CENTER_COORDINATE = 1e9


def as_centers(centers, name='centers'):
    """
    Return ``centers`` as a C-contiguous (N, 2) float64 array of finite
    (y, x) positions within `MAX_CENTER_COORDINATE` of the origin; an
    empty sequence gives shape (0, 2).
    """
    centers = as_positions(centers, name)
    if centers.size and np.abs(centers).max() > MAX_CENTER_COORDINATE:
        msg = (f'{name} must lie within {MAX_CENTER_COORDINATE:g} pixels of '
               f'the origin, got a coordinate of {np.abs(centers).max():g}')
        raise ValueError(msg)
    return centers
