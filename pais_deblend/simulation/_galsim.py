"""
Lazy GalSim access.
"""

from ..utils._optional_deps import require

__all__ = []


def require_galsim():
    """Import and return galsim (an optional dependency)."""
    return require('galsim')
