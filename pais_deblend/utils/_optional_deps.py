"""
Lazy checks for optional dependencies.

``HAS_GALSIM`` and friends are evaluated on first access only, so that
``import pais_deblend`` never imports the heavy packages themselves.
"""

import importlib
import importlib.util

__all__ = ['require']

# module name -> (pip extra that provides it, what it is needed for)
_OPTIONAL = {
    'galsim': ('simulation', 'simulating scenes'),
    'scarlet2': ('scarlet', 'SCARLET labels and the scarlet2 comparison'),
    'jax': ('scarlet', 'scarlet2'),
    'tensorflow': ('model', 'the PAIS network'),
    'keras': ('model', 'the PAIS network'),
    'dask': ('distributed', 'survey-size images'),
    'distributed': ('distributed', 'survey-size images'),
    'zarr': ('distributed', 'writing results by region'),
    'pycocotools': ('evaluation', 'COCO-style average precision'),
    'sep': ('evaluation', 'the sep comparison'),
    'onnxruntime': ('onnx', 'running a model with ONNX Runtime'),
    # export only: no extra installs them
    'tf2onnx': (None, 'exporting to ONNX'),
    'onnx': (None, 'exporting to ONNX'),
}


def __getattr__(name):
    if name.startswith('HAS_'):
        module_name = name[4:].lower()
        return importlib.util.find_spec(module_name) is not None
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def require(module_name):
    """
    Import and return an optional dependency, or raise `ImportError` with
    the pip command that installs it.

    Parameters
    ----------
    module_name : str
        The importable module name, e.g. ``'galsim'``.

    Returns
    -------
    module : module
        The imported module.
    """
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        extra, purpose = _OPTIONAL.get(module_name, (None, 'this feature'))
        hint = (f"pip install 'pais_deblend[{extra}]'" if extra
                else f'pip install {module_name}')
        msg = (f'{module_name} is required for {purpose} but could not be '
               f'imported ({exc}); install it with: {hint}')
        raise ImportError(msg) from exc
