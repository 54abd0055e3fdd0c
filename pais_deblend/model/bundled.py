"""
The trained models shipped inside the package.

Each bundled model is a ``<name>.keras`` file with its JSON model card
``<name>.json`` in ``pais_deblend/model/weights/``, and may have an ONNX
twin ``<name>.onnx`` (the same network exported with
`~pais_deblend.model.onnx_runtime.export_onnx` by
``tools/export_onnx.py``) that runs with ONNX Runtime, without
TensorFlow. The SHA-256 of every weights file is recorded here, in the
code, so a truncated, corrupted or swapped file is refused before Keras
or ONNX Runtime reads a byte of it. Nothing is ever downloaded.
"""

import json
import os

from ..utils._io import file_sha256

__all__ = ['BUNDLED_MODELS', 'available_models', 'bundled_model_card',
           'bundled_model_path', 'bundled_onnx_path', 'load_bundled_model',
           'load_bundled_onnx_model']

_WEIGHTS_DIR = os.path.join(os.path.dirname(__file__), 'weights')

#: name -> SHA-256 of ``weights/<name>.keras`` and the decoding settings
#: tuned on the model's validation scenes (see its model card). The
#: ``decoding`` dict may also name the input ``'normalization'`` the model
#: was trained with (``'asinh'`` when absent, or ``'lupton'``); ``Deblender``
#: uses it by default. ``pixel_scale`` (arcsec/pixel) is that of the
#: training scenes, checked against an image's WCS. ``onnx_sha256``, when
#: present, is that of the ONNX twin ``weights/<name>.onnx``.
BUNDLED_MODELS = {
    'ground_grz': {
        'description': ('ground-based g, r, z, 0.2 arcsec/pixel, with '
                        'star/galaxy classification and per-band weights '
                        '(trained on the simulated ground_grz preset)'),
        'sha256': 'e3b9de580f4a6f3cb407d31bf3a12a389093562e6bad9d5e1aa3dea365511d5d',
        'onnx_sha256': 'b0cce87f4d58d17eb4a9d949e8508e1367a01394ffdfc5ef9946c8f04a5ece94',
        'band_names': ['g', 'r', 'z'],
        # arcsec per pixel of the training scenes (model card,
        # dataset.manifest.preset_parameters.pixel_scale)
        'pixel_scale': 0.2,
        # validation scenes (seed 101, 64 scenes), F1 for S/N > 10 within
        # 3.5 px (one FWHM) at half-width 2 (it keeps close pairs
        # separable): 0.971 at thresholds 0.6 and 0.65 (the scan's best,
        # 0.972, at 0.6 with half-width 3)
        'decoding': {'detection_threshold': 0.6, 'min_separation': 2},
    },
    'hst_f160w': {
        'description': ('HST WFC3/IR F160W, 0.06 arcsec/pixel: the light '
                        'network distilled from hst_f160w_v1 (trained on '
                        'the simulated hst_f160w preset)'),
        'sha256': '648379414f5e79af789a38d431f57f9dd89cd891693a9e8ca379151a46aef8f6',
        'onnx_sha256': 'cd51ffde9e43142a9f3a8dd01af4dd0d887ce783ef8fb0deec075d77d9686c28',
        'pixel_scale': 0.06,
        # validation scenes (seed 1, 64 scenes), F1 for S/N > 10 at
        # half-width 2 (it keeps close pairs separable): 0.916 at
        # threshold 0.55, the best threshold (the scan's best, 0.917,
        # at half-width 4)
        'decoding': {'detection_threshold': 0.55, 'min_separation': 2},
    },
    'hst_f160w_v1': {
        'description': ('HST WFC3/IR F160W, 0.06 arcsec/pixel: the '
                        "paper's network, the default before hst_f160w "
                        '(trained on the simulated hst_f160w preset)'),
        'sha256': '0f9a5b2753fddc8c9a489b62d5aee8aa9fce98a66e112fa13eda5fced0e49270',
        'onnx_sha256': 'e455f1ae3eb8f317b5a06dbf17fa54a2ccac88eed22ce3afe184d64739ffe4f3',
        'pixel_scale': 0.06,
        # validation scenes (seed 1, 64 scenes), F1 for S/N > 10 at
        # half-width 2 (as ground_grz: it keeps close pairs separable):
        # 0.930 at threshold 0.6, the best threshold (the scan's best,
        # 0.934, needs half-width 5)
        'decoding': {'detection_threshold': 0.6, 'min_separation': 2},
    },
}


def available_models():
    """The names of the bundled models, sorted."""
    return sorted(BUNDLED_MODELS)


def _check_name(name):
    if not isinstance(name, str):
        msg = f'model must be a model name or a PAIS model, got {name!r}'
        raise TypeError(msg)
    if name not in BUNDLED_MODELS:
        choices = ', '.join(repr(n) for n in available_models()) or 'none'
        msg = (f'model {name!r} is not a bundled model; available: '
               f'{choices}')
        raise ValueError(msg)


def bundled_model_path(name):
    """The path of the bundled model ``name``'s ``.keras`` file."""
    _check_name(name)
    return os.path.join(_WEIGHTS_DIR, f'{name}.keras')


def bundled_onnx_path(name):
    """
    The path of the ONNX twin of the bundled model ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled model or has no ONNX twin.
    """
    _check_name(name)
    if 'onnx_sha256' not in BUNDLED_MODELS[name]:
        with_twin = ', '.join(repr(other) for other in available_models()
                              if 'onnx_sha256' in BUNDLED_MODELS[other])
        msg = (f"bundled model {name!r} has no ONNX twin, so it cannot run "
               f"with runtime='onnx'; bundled models with one: "
               f"{with_twin or 'none'}")
        raise ValueError(msg)
    return os.path.join(_WEIGHTS_DIR, f'{name}.onnx')


def bundled_model_card(name):
    """The model card (dict) of the bundled model ``name``."""
    _check_name(name)
    with open(os.path.join(_WEIGHTS_DIR, f'{name}.json')) as handle:
        return json.load(handle)


def verify_checksum(filename, expected):
    """
    Raise `ValueError` unless the SHA-256 of ``filename`` is ``expected``.
    """
    if not os.path.isfile(filename):
        msg = f'model file {filename!r} does not exist'
        raise FileNotFoundError(msg)
    actual = file_sha256(filename)
    if actual != expected:
        msg = (f'model file {filename!r} has SHA-256 {actual}, expected '
               f'{expected}: the file is damaged or not the bundled one; '
               f'reinstall pais_deblend')
        raise ValueError(msg)


def load_bundled_model(name):
    """
    Load a bundled model after verifying its checksum (Keras safe mode).

    Parameters
    ----------
    name : str
        One of `available_models`.

    Returns
    -------
    model : `~pais_deblend.model.PAISModel`

    Raises
    ------
    ValueError
        For an unknown name or a file whose checksum does not match.
    """
    from .network import load_model

    path = bundled_model_path(name)
    verify_checksum(path, BUNDLED_MODELS[name]['sha256'])
    return load_model(path)


def load_bundled_onnx_model(name, **options):
    """
    Load the ONNX twin of a bundled model after verifying its checksum;
    it runs with ONNX Runtime, without TensorFlow.

    Parameters
    ----------
    name : str
        One of `available_models` that has an ONNX twin.
    **options
        ``threads`` and ``providers`` of
        `~pais_deblend.model.OnnxPAISModel`.

    Returns
    -------
    model : `~pais_deblend.model.OnnxPAISModel`

    Raises
    ------
    ValueError
        For an unknown name, a model without an ONNX twin, or a file
        whose checksum does not match.
    ImportError
        Without ``onnxruntime``.
    """
    from .onnx_runtime import load_onnx_model

    path = bundled_onnx_path(name)
    verify_checksum(path, BUNDLED_MODELS[name]['onnx_sha256'])
    return load_onnx_model(path, **options)
