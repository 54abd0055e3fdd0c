"""
Utilities shared by the pais_deblend subpackages: warning classes and
input checking.
"""

from .exceptions import *  # noqa: F401, F403

__all__ = ['PaisDeblendWarning', 'NoDetectionWarning', 'ModelMismatchWarning',
           'OptionalDependencyWarning']
