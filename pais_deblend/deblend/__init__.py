"""
The user-facing deblender: `deblend_sources` (the drop-in for photutils'
function) and `Deblender` (a loaded model for many images).
"""

from .core import Deblender, deblend_sources

__all__ = ['Deblender', 'deblend_sources']
