"""
Enclosed-flux radii of radially sorted pixels, shared by the source
catalog and the evaluation metrics.
"""

import numpy as np

__all__ = ['flux_radius_sorted']


def flux_radius_sorted(radius, values, fraction):
    """
    Radius at which the cumulative flux first reaches ``fraction`` of the
    total, for pixels already sorted by increasing ``radius``.

    Parameters
    ----------
    radius : 1-D array of float
        The pixel distances from the centre, in increasing order.
    values : 1-D array of float
        The pixel fluxes, in the same order.
    fraction : float
        The enclosed-flux fraction, in (0, 1].

    Returns
    -------
    radius : float
        The radius of the first pixel at which the cumulative flux reaches
        ``fraction`` of the total; NaN if the total is not positive.
    """
    cumulative = np.cumsum(values)
    total = cumulative[-1] if cumulative.size else 0.0
    if not total > 0:
        return np.nan
    index = int(np.argmax(cumulative >= fraction * total))
    return float(radius[index])
