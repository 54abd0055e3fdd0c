"""
Simulated blended scenes with exact per-source truth, and training data.

GalSim draws every source on its own (stars, bulge+disk galaxies, clumpy
star-forming galaxies) so that the per-source images S_i and the fractions
M_i = S_i / sum_j S_j of the PAIS paper (Hausen & Robertson 2022,
arXiv:2201.04714) are exact. GalSim is an optional dependency (``pip install
'pais_deblend[simulation]'``); it is imported only when a scene is drawn.
"""

from .presets import *  # noqa: F401, F403
from .population import *  # noqa: F401, F403
from .scene import *  # noqa: F401, F403
from .pairs import *  # noqa: F401, F403
from .dataset import *  # noqa: F401, F403
from .scarlet_labels import *  # noqa: F401, F403

__all__ = (presets.__all__ + population.__all__ + scene.__all__  # noqa: F405
           + pairs.__all__ + dataset.__all__ + scarlet_labels.__all__)  # noqa: F405
