"""Tests of where numba caches the compiled kernels (never in the package)."""

import os

import pytest
from numba.core import caching, config

import pais_deblend
from pais_deblend.pcr import _decode_kernels, _index
from pais_deblend.segmentation import _kernels as segmentation_kernels
from pais_deblend.utils import _numba_cache
from pais_deblend.utils._numba_cache import (PackageCacheLocator,
                                             install_cache_locator)

PACKAGE_DIR = os.path.realpath(os.path.dirname(pais_deblend.__file__))


def _inside_package(path):
    path = os.path.realpath(path)
    return os.path.commonpath([path, PACKAGE_DIR]) == PACKAGE_DIR


def _cache_path(dispatcher):
    """The cache folder numba picks for a kernel now."""
    return caching.FunctionCache(dispatcher.py_func).cache_path


@pytest.mark.parametrize('kernel', [
    _index._bucket_centers, _decode_kernels._decode_blocks,
    segmentation_kernels.dominant_labels, segmentation_kernels.weight_map])
def test_kernels_are_cached_outside_the_package(kernel):
    if config.CACHE_DIR:
        pytest.skip('NUMBA_CACHE_DIR is set')
    assert not _inside_package(kernel._cache.cache_path)
    assert not _inside_package(_cache_path(kernel))


def test_the_locator_comes_after_numba_cache_dir_and_only_once():
    install_cache_locator()
    locators = _numba_cache._numba_class('CacheImpl')._locator_classes
    assert locators.count(PackageCacheLocator) == 1
    user_provided = _numba_cache._numba_class('UserProvidedCacheLocator')
    assert locators.index(PackageCacheLocator) == (
        locators.index(user_provided) + 1)


def test_a_users_numba_cache_dir_wins(tmp_path, monkeypatch):
    monkeypatch.setattr(config, 'CACHE_DIR', str(tmp_path))
    path = _cache_path(segmentation_kernels.weight_map)
    assert os.path.commonpath([path, str(tmp_path)]) == str(tmp_path)


def test_other_functions_are_left_to_numba():
    def not_ours():
        pass

    assert PackageCacheLocator.from_function(not_ours, __file__) is None


def test_an_unwritable_user_cache_falls_back_to_a_private_folder(
        tmp_path, monkeypatch):
    # a path below a plain file cannot be created, whoever runs the tests
    blocker = tmp_path / 'file'
    blocker.write_text('')

    class UnwritableAppDirs:
        def __init__(self, *args, **kwargs):
            self.user_cache_dir = str(blocker / 'cache')

    monkeypatch.setattr(config, 'CACHE_DIR', '')
    monkeypatch.setattr(caching, 'AppDirs', UnwritableAppDirs)
    path = _cache_path(segmentation_kernels.weight_map)
    assert not _inside_package(path)
    assert not path.startswith(str(blocker))
    assert path.startswith(_numba_cache._private_cache_dir())
    assert os.path.isdir(path)
