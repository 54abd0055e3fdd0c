"""Tests of the shared utilities: validation, atomic output, optional
dependencies."""

import sys

import numpy as np
import pytest

from pais_deblend.utils import _optional_deps
from pais_deblend.utils._fits import find_hdu
from pais_deblend.utils._io import atomic_output
from pais_deblend.utils._validation import (as_image, as_positions,
                                            check_finite_float, check_in,
                                            check_nonnegative_int,
                                            check_positive_int,
                                            check_same_shape)


class TestAsImage:
    def test_masked_pixels_become_nan(self):
        data = np.ma.array([[1.0, 2.0]], mask=[[False, True]])
        image = as_image(data)
        assert np.isnan(image[0, 1]) and image[0, 0] == 1
        assert not data.mask[0, 0] and data[0, 0] == 1

    def test_integer_input_is_converted(self):
        assert as_image(np.ones((2, 2), dtype=np.int16)).dtype == np.float64

    @pytest.mark.parametrize('value', ['image.fits', None, b'xx'])
    def test_not_an_array(self, value):
        with pytest.raises(TypeError, match='data must be an array'):
            as_image(value)

    def test_complex(self):
        with pytest.raises(TypeError, match='real numbers.*complex'):
            as_image(np.ones((2, 2), dtype=complex))

    def test_ndim(self):
        with pytest.raises(ValueError, match=r'image must be 2-dimensional, got shape \(3,\)'):
            as_image(np.ones(3), 'image')

    def test_empty(self):
        with pytest.raises(ValueError, match='data must not be empty'):
            as_image(np.ones((0, 3)))


class TestScalars:
    def test_positive_int(self):
        assert check_positive_int(np.int64(3), 'n') == 3
        with pytest.raises(TypeError, match='n must be a positive integer, got 2.5'):
            check_positive_int(2.5, 'n')
        with pytest.raises(TypeError, match='n must be a positive integer, got True'):
            check_positive_int(True, 'n')
        with pytest.raises(ValueError, match='n must be a positive integer, got 0'):
            check_positive_int(0, 'n')

    def test_nonnegative_int(self):
        assert check_nonnegative_int(0, 'k') == 0
        with pytest.raises(ValueError, match='k must be a non-negative integer, got -1'):
            check_nonnegative_int(-1, 'k')
        with pytest.raises(TypeError, match='k must be a non-negative'):
            check_nonnegative_int('1', 'k')

    def test_finite_float(self):
        assert check_finite_float(2, 'sigma', minimum=0) == 2.0
        with pytest.raises(ValueError, match='sigma must be finite, got nan'):
            check_finite_float(float('nan'), 'sigma')
        with pytest.raises(ValueError, match='sigma must be > 0, got 0.0'):
            check_finite_float(0, 'sigma', minimum=0)
        with pytest.raises(ValueError, match='sigma must be <= 1, got 2.0'):
            check_finite_float(2, 'sigma', maximum=1)
        with pytest.raises(TypeError, match='sigma must be a real number'):
            check_finite_float('1', 'sigma')

    def test_same_shape_and_choices(self):
        with pytest.raises(ValueError, match=r'mask has shape \(1, 2\) but data'):
            check_same_shape((1, 2), (2, 2), 'mask', 'data')
        with pytest.raises(ValueError, match="choice must be one of 'a', 'b', got 'c'"):
            check_in('c', ('a', 'b'), 'choice')


class TestPositions:
    def test_copy_and_empty(self):
        given = [[1, 2], [3, 4]]
        result = as_positions(given, 'centers')
        assert result.dtype == np.float64 and result.flags.c_contiguous
        assert as_positions([], 'centers').shape == (0, 2)
        array = np.array([[1.0, 2.0]])
        as_positions(array, 'centers')[0, 0] = 9
        assert array[0, 0] == 1

    @pytest.mark.parametrize('value, error, match', [
        (None, TypeError, 'centers must be an \\(N, 2\\) array'),
        ({1: (0, 0)}, TypeError, 'got a dict'),
        ([['a', 'b']], TypeError, 'must hold real numbers'),
        ([1, 2, 3], ValueError, r'must have shape \(N, 2\), got shape \(3,\)'),
        ([[0, np.inf]], ValueError, 'must be finite'),
    ])
    def test_bad_positions(self, value, error, match):
        with pytest.raises(error, match=match):
            as_positions(value, 'centers')


class TestAtomicOutput:
    def test_moves_into_place(self, tmp_path):
        target = tmp_path / 'out.txt'
        with atomic_output(target) as temporary:
            with open(temporary, 'w') as handle:
                handle.write('done')
        assert target.read_text() == 'done'
        assert [p.name for p in tmp_path.iterdir()] == ['out.txt']

    def test_permissions_follow_the_umask(self, tmp_path):
        import os
        import stat

        previous = os.umask(0o027)
        try:
            target = tmp_path / 'shared.txt'
            with atomic_output(target) as temporary:
                with open(temporary, 'w') as handle:
                    handle.write('x')
        finally:
            os.umask(previous)
        assert stat.S_IMODE(target.stat().st_mode) == 0o640

    def test_failure_leaves_nothing(self, tmp_path):
        target = tmp_path / 'out.txt'
        with pytest.raises(RuntimeError, match='boom'):
            with atomic_output(target) as temporary:
                with open(temporary, 'w') as handle:
                    handle.write('half')
                raise RuntimeError('boom')
        assert list(tmp_path.iterdir()) == []

    def test_refuses_to_overwrite(self, tmp_path):
        target = tmp_path / 'out.txt'
        target.write_text('keep')
        with pytest.raises(FileExistsError, match='pass overwrite=True'):
            with atomic_output(target):
                pass
        assert target.read_text() == 'keep'


class TestOptionalDependencies:
    def test_missing_module_names_the_extra(self, monkeypatch):
        monkeypatch.setitem(_optional_deps._OPTIONAL, 'no_such_module_xyz',
                            ('simulation', 'testing'))
        with pytest.raises(ImportError,
                           match=r"pip install 'pais_deblend\[simulation\]'"):
            _optional_deps.require('no_such_module_xyz')

    def test_present_module_is_returned(self):
        assert _optional_deps.require('numpy') is np

    def test_has_flags(self):
        assert _optional_deps.HAS_NUMPY is True
        assert _optional_deps.HAS_NO_SUCH_MODULE_XYZ is False


def test_find_hdu():
    from astropy.io import fits

    hdulist = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(name='SCI'),
                            fits.ImageHDU(name='sci', ver=2),
                            fits.ImageHDU()])
    assert find_hdu(hdulist, 1) == 1
    assert find_hdu(hdulist, np.int64(3)) == 3
    assert find_hdu(hdulist, 4) is None
    assert find_hdu(hdulist, -1) is None  # never counted from the end
    assert find_hdu(hdulist, ' Sci ') == 1  # the first of that name
    assert find_hdu(hdulist, ('SCI', 2)) == 2
    assert find_hdu(hdulist, 'primary') == 0
    assert find_hdu(hdulist, 'NOPE') is None
    assert find_hdu(hdulist, 1.0) is None


def test_import_is_light():
    import subprocess

    code = ('import sys, pais_deblend; '
            'heavy = [m for m in ("tensorflow", "galsim", "scarlet2", "dask", '
            '"jax", "photutils.segmentation") if m in sys.modules]; '
            'print(heavy)')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == '[]'
