"""
Serial twins of the package's parallel numba kernels, used on small
images.

Starting numba's thread pool costs more than the work of a kernel on a
small image, and worse, its OpenMP threads keep spinning for a while
after every parallel loop: on a machine with few cores they then take
the cores from TensorFlow's threads in the next network pass (119 ms per
128 x 128 `~pais_deblend.Deblender` call with the parallel kernels, 53 ms
with the twins, on a 2-core Xeon, 2026-12-07:
``benchmarks/bench_small_images.py``). Every parallel
kernel that a call of the deblending pipeline runs therefore has a twin
compiled without ``parallel``, and the caller picks one by the size of
the frame (`pick`), without touching the user's environment or numba's
settings. Both compile the same Python function, so they give the same
arrays; the tests check each twin against the slow references too.

Imported only by the kernel modules (it imports numba).
"""

import types

import numba

__all__ = ['SERIAL_PIXELS', 'serial_twins', 'pick']

#: Frames of at most this many pixels (512 x 512) use the serial twins.
SERIAL_PIXELS = 1 << 18

#: Options of a kernel that its twin does not take (``nopython`` is
#: implied by ``njit``).
_NOT_PASSED = ('parallel', 'nopython')


def _serial_twin(kernel):
    """
    ``kernel`` compiled without ``parallel`` (its other options kept). A
    distinct qualified name keeps its on-disk cache apart from the
    parallel one's.
    """
    function = kernel.py_func
    twin = types.FunctionType(function.__code__, function.__globals__,
                              function.__name__ + '_serial',
                              function.__defaults__, function.__closure__)
    twin.__qualname__ = function.__qualname__ + '_serial'
    twin.__doc__ = function.__doc__
    twin.__module__ = function.__module__
    options = {key: value for key, value in kernel.targetoptions.items()
               if key not in _NOT_PASSED}
    serial = numba.njit(cache=True, **options)(twin)
    # `pick` finds the twin on the kernel itself
    kernel.serial_twin = serial
    return serial


def serial_twins(*kernels):
    """
    Give every parallel kernel of ``kernels`` its serial twin (as
    ``kernel.serial_twin``; compiled on first use, like the kernel).

    Returns
    -------
    twins : dict
        Kernel name -> twin.
    """
    return {kernel.__name__: _serial_twin(kernel) for kernel in kernels}


def use_serial(n_pixels):
    """Whether a frame of ``n_pixels`` pixels takes the serial twins."""
    return n_pixels <= SERIAL_PIXELS


def pick(kernel, n_pixels):
    """``kernel`` or, for a frame of at most `SERIAL_PIXELS` pixels, its
    serial twin (see `serial_twins`)."""
    if use_serial(n_pixels):
        return kernel.serial_twin
    return kernel
