"""
Where numba caches the compiled kernels of this package.

The kernels are compiled with ``cache=True``. By default numba writes that
cache next to the source, in the ``__pycache__`` folders of the installed
package, whenever they are writable. pip does not know these files: it
leaves them behind when it uninstalls the package, and the
``site-packages/pais_deblend`` folder left over then shadows a later
editable install as an empty namespace package (``cannot import name ...
(unknown location)``).

The choice: a numba cache locator of our own, put in numba's list of
locators (``CacheImpl._locator_classes``, tried in order for every cached
function) right after the one for ``NUMBA_CACHE_DIR``. It claims only the
source files of this package and caches them in numba's user-wide cache
folder (``UserWideCacheLocator``: ``~/.cache/numba`` on Linux), which is
where numba itself caches when the package folder is read-only; a
read-only install therefore works as before. The alternatives were worse:
setting ``NUMBA_CACHE_DIR`` (or ``numba.config.CACHE_DIR``) would move the
cache of every other package in the process too, and replacing the cache
object of each of our dispatchers relies on a private attribute and is
lost when a dispatcher is pickled into a worker process. A user's own
``NUMBA_CACHE_DIR`` still wins (its locator comes first), and so does a
user's own ``NUMBA_CACHE_LOCATOR_CLASSES`` (numba then ignores the list).
When the user-wide folder is not writable, the kernels are cached in a
private temporary folder that lives as long as the process, never in the
package.

`install_cache_locator` must run before numba compiles, or rather
decorates, any kernel: numba picks the locator when ``@numba.njit(
cache=True)`` is applied, i.e. when a kernel module is imported. Every
kernel module calls it before its first decorator.
"""

import atexit
import os
import shutil
import tempfile

from numba.core import caching, config

__all__ = ['install_cache_locator', 'PackageCacheLocator']

_PACKAGE_DIR = os.path.realpath(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _numba_class(name):
    # numba < 0.61 names these classes with a leading underscore
    return getattr(caching, name, None) or getattr(caching, f'_{name}')


_UserWideCacheLocator = _numba_class('UserWideCacheLocator')


def _in_package(py_file):
    path = os.path.realpath(py_file)
    try:
        return os.path.commonpath([path, _PACKAGE_DIR]) == _PACKAGE_DIR
    except ValueError:  # another drive on Windows
        return False


_private_dir = None


def _private_cache_dir():
    """A folder private to this process, removed when it exits."""
    global _private_dir
    if _private_dir is None:
        _private_dir = tempfile.mkdtemp(prefix='pais_deblend-numba-')
        atexit.register(shutil.rmtree, _private_dir, ignore_errors=True)
    return _private_dir


class _PrivateCacheLocator(_UserWideCacheLocator):
    """The fallback: a temporary folder private to the process."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(
            _private_cache_dir(), self.get_suitable_cache_subpath(py_file))


class PackageCacheLocator(_UserWideCacheLocator):
    """
    The numba cache locator of this package's kernels: numba's user-wide
    cache folder, else a private temporary folder, never the package.
    """

    @classmethod
    def from_function(cls, py_func, py_file):
        if config.CACHE_DIR or not _in_package(py_file):
            return None  # NUMBA_CACHE_DIR, or not ours: numba decides
        locator = super().from_function(py_func, py_file)
        if locator is None:  # the user-wide folder is not writable
            try:
                locator = _PrivateCacheLocator.from_function(py_func,
                                                             py_file)
            except OSError:  # no temporary folder either: numba decides
                return None
        return locator


def install_cache_locator():
    """
    Put `PackageCacheLocator` in numba's list of cache locators, after
    the ``NUMBA_CACHE_DIR`` one (once; later calls do nothing).
    """
    locators = _numba_class('CacheImpl')._locator_classes
    if PackageCacheLocator in locators:
        return
    user_provided = _numba_class('UserProvidedCacheLocator')
    index = (locators.index(user_provided) + 1
             if user_provided in locators else 0)
    locators.insert(index, PackageCacheLocator)
