"""The package version."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    version = _version('pais_deblend')
except PackageNotFoundError:  # running from a source tree
    version = '0.0.0'

__all__ = ['version']
