"""
The Partial Contribution Representation (PCR) of Hausen & Robertson
(2022, arXiv:2201.04714): encoding per-source images into fixed-size
centre-of-mass, contribution-vector and contribution-map tensors, finding
centres, and decoding back into a partial segmentation image.

numba is imported only when a function first needs a kernel, so
importing this subpackage is cheap.
"""

from .core import *  # noqa: F401, F403
from .decode import *  # noqa: F401, F403
from .encode import *  # noqa: F401, F403
from .peaks import *  # noqa: F401, F403

__all__ = ['PCR', 'encode_pcr', 'encode_band_maps', 'center_of_mass_map',
           'decode_pcr', 'decode_arrays', 'decode_at_pixels',
           'decode_band_weights', 'DecodedPCR',
           'find_centers']
