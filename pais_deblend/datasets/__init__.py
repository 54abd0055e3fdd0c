"""
Small real images shipped with the package, for examples, docs and tests.
"""

from .hlf import *  # noqa: F401, F403
from .phosim import *  # noqa: F401, F403

__all__ = ['HLFCutout', 'load_hlf_goodss', 'get_path', 'PhoSimDECam',
           'load_phosim_decam']
