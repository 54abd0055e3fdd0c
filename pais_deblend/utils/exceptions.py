"""
Warning classes used throughout pais_deblend.
"""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['PaisDeblendWarning', 'NoDetectionWarning', 'OptionalDependencyWarning']


class PaisDeblendWarning(AstropyUserWarning):
    """
    Base class of every warning issued by pais_deblend.
    """


class NoDetectionWarning(PaisDeblendWarning):
    """
    Warning issued when an image yields no source.
    """


class OptionalDependencyWarning(PaisDeblendWarning):
    """
    Warning issued when an optional dependency is missing and a feature is
    skipped because of it.
    """
