"""
Running a PAIS network with ONNX Runtime instead of TensorFlow.

`export_onnx` writes a trained `~pais_deblend.model.PAISModel` as an ONNX
graph (with ``tf2onnx``, through Keras' ``model.export``) and stores in
the file's metadata what inference needs besides the graph: the
architecture, the number of bands and contributor slots, the
receptive-field radius and the downsampling factor. `OnnxPAISModel`
reads such a file with ``onnxruntime`` only, and offers what
`~pais_deblend.model.predict_pcr` and `~pais_deblend.deblend.Deblender`
use of a PAIS model, so that a process can deblend without importing
TensorFlow (whose import alone takes seconds).

The exported graph keeps the batch and image sides dynamic, and its
outputs carry the names of the Keras outputs; its results agree with the
Keras model to float rounding (the two runtimes sum convolutions in
different orders).
"""

import json
import os
import tempfile

import numpy as np

from ..utils._optional_deps import require
from .inference import padded_shape

__all__ = ['OnnxPAISModel', 'export_onnx', 'load_onnx_model',
           'METADATA_KEY']

#: The key of the ONNX ``metadata_props`` entry holding the model's
#: description (a JSON object).
METADATA_KEY = 'pais_deblend'

#: The version of the layout of that JSON object.
_METADATA_FORMAT = 1

#: Keys the JSON object must have.
_REQUIRED_KEYS = ('architecture', 'architecture_name', 'n_bands',
                  'n_contributors', 'receptive_field_radius',
                  'downsampling_factor', 'classify', 'band_maps', 'name',
                  'outputs')


def _metadata(model):
    """The JSON-serialisable description of ``model`` stored in the
    ONNX file."""
    from .network import OPTIONAL_OUTPUT_NAMES, OUTPUT_NAMES

    optional = [name for name, present in zip(
        OPTIONAL_OUTPUT_NAMES, (model.classify, model.band_maps)) if present]
    return {
        'format': _METADATA_FORMAT,
        'architecture': model.architecture,
        'architecture_name': model.architecture_name,
        'n_bands': int(model.n_bands),
        'n_contributors': int(model.n_contributors),
        'receptive_field_radius': int(model.receptive_field_radius),
        'downsampling_factor': int(model.downsampling_factor),
        'classify': bool(model.classify),
        'band_maps': bool(model.band_maps),
        'name': str(model.name),
        'outputs': list(OUTPUT_NAMES) + optional,
    }


def export_onnx(model, filename, *, overwrite=False):
    """
    Write a PAIS model as an ONNX file that `OnnxPAISModel` can run.

    Needs ``tf2onnx`` and ``onnx`` (``pip install tf2onnx onnx``). The
    graph takes (batch, h, w, b) normalised float32 images of any batch
    size and sides and returns the model's outputs under their Keras
    names; the model's description (`OnnxPAISModel` attributes) is
    stored in the file's ``metadata_props`` under `METADATA_KEY`.

    Parameters
    ----------
    model : `~pais_deblend.model.PAISModel`
        The Keras model (e.g. from `~pais_deblend.model.load_model`).
    filename : str or path-like
        The output ``.onnx`` file, written atomically.
    overwrite : bool, optional
        Whether an existing ``filename`` may be replaced.

    Returns
    -------
    filename : str
        The path written.

    Raises
    ------
    ImportError
        Without ``tf2onnx`` or ``onnx``.
    TypeError
        If ``model`` is not a PAIS model.
    FileExistsError
        If ``filename`` exists and ``overwrite`` is False.
    """
    from ..utils._io import atomic_output

    filename = os.fspath(filename)
    missing = [name for name in ('n_bands', 'n_contributors',
                                 'receptive_field_radius', 'architecture')
               if not hasattr(model, name)]
    if missing or not hasattr(model, 'export'):
        msg = (f'model must be a PAIS Keras model '
               f'(pais_deblend.model.PAISModel), got {type(model).__name__}')
        raise TypeError(msg)
    if os.path.lexists(filename) and not overwrite:
        # before the slow conversion; atomic_output checks again
        msg = f'{filename!r} already exists; pass overwrite=True to replace it'
        raise FileExistsError(msg)
    require('tf2onnx')
    onnx = require('onnx')

    metadata = _metadata(model)
    # Keras traces the model's call for the export: a first call builds
    # every layer (a model fresh from build_pais_model or load_model has
    # not run yet)
    model(np.zeros((1, 128, 128, metadata['n_bands']), dtype=np.float32),
          training=False)
    with tempfile.TemporaryDirectory() as directory:
        exported = os.path.join(directory, 'model.onnx')
        model.export(exported, format='onnx', verbose=False)
        graph = onnx.load(exported)
    produced = [output.name for output in graph.graph.output]
    if sorted(produced) != sorted(metadata['outputs']):
        msg = (f'the exported graph has outputs {produced}, expected '
               f'{metadata["outputs"]}')
        raise RuntimeError(msg)
    del graph.metadata_props[:]
    entry = graph.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = json.dumps(metadata, sort_keys=True)
    with atomic_output(filename, overwrite=overwrite) as temporary:
        onnx.save(graph, temporary)
    return filename


def _default_threads():
    """The CPUs this process may run on (its affinity where the system
    reports it), as the default intra-op thread count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class OnnxPAISModel:
    """
    A PAIS network exported with `export_onnx`, run with ONNX Runtime.

    It has the attributes of `~pais_deblend.model.PAISModel` that
    inference reads, and calling it on a batch of normalised images
    returns the same dict of outputs as NumPy arrays, so
    `~pais_deblend.model.predict_pcr` and
    `~pais_deblend.deblend.Deblender` take it in place of the Keras
    model; TensorFlow is never imported.

    Parameters
    ----------
    filename : str or path-like
        An ``.onnx`` file written by `export_onnx`.
    threads : int, optional
        The intra-op threads of the session (default: the CPUs this
        process may use).
    providers : list of str, optional
        ONNX Runtime execution providers, in order of preference
        (default: ``['CPUExecutionProvider']``).

    Raises
    ------
    ImportError
        Without ``onnxruntime``.
    FileNotFoundError
        If ``filename`` does not exist.
    ValueError
        If it is not an ONNX model ONNX Runtime can read, or lacks the
        metadata `export_onnx` writes; the message names the file.
    """

    #: Tells `~pais_deblend.model.predict_pcr` to call the model as it
    #: is (it returns NumPy arrays) instead of wrapping it in a
    #: ``tf.function``.
    runtime = 'onnx'

    def __init__(self, filename, *, threads=None, providers=None):
        from ..utils._validation import check_positive_int

        path = os.fspath(filename)
        if not os.path.isfile(path):
            msg = f'model file {path!r} does not exist'
            raise FileNotFoundError(msg)
        threads = (_default_threads() if threads is None
                   else check_positive_int(threads, 'threads'))
        ort = require('onnxruntime')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # one operator at a time, each on all threads: the graph is a
        # chain of convolutions with little to run side by side
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # idle threads sleep instead of spinning: spinning workers take
        # the cores from numba's kernels after the pass and from any
        # other job; on a loaded 2-core machine they made a 128 x 128
        # pass 2.5x slower (82 ms against 32 ms)
        options.add_session_config_entry('session.intra_op.allow_spinning',
                                         '0')
        options.log_severity_level = 3  # errors only
        try:
            session = ort.InferenceSession(
                path, options,
                providers=(['CPUExecutionProvider'] if providers is None
                           else list(providers)))
        except MemoryError:
            raise
        except Exception as error:  # ORT raises its own Fail, InvalidGraph
            reason = ' '.join(str(error).split())
            msg = (f'model file {path!r} is not an ONNX model ONNX Runtime '
                   f'can read ({type(error).__name__}: {reason})')
            raise ValueError(msg) from error
        self._metadata = _read_metadata(session, path)
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs = [output.name for output in session.get_outputs()]
        #: The path of the ONNX file.
        self.filename = path

    def __repr__(self):
        return (f'OnnxPAISModel({self.filename!r}, name={self.name!r}, '
                f'n_bands={self.n_bands})')

    @property
    def architecture(self):
        """The architecture dict of the Keras model (a copy)."""
        return json.loads(json.dumps(self._metadata['architecture']))

    @property
    def architecture_name(self):
        """``'pais'`` or ``'light'``."""
        return self._metadata['architecture_name']

    @property
    def n_bands(self):
        """The number of input bands."""
        return self._metadata['n_bands']

    @property
    def n_contributors(self):
        """The number of contributor slots."""
        return self._metadata['n_contributors']

    @property
    def receptive_field_radius(self):
        """The receptive-field radius in pixels (exact tiling)."""
        return self._metadata['receptive_field_radius']

    @property
    def downsampling_factor(self):
        """Tile origins must be multiples of it."""
        return self._metadata['downsampling_factor']

    @property
    def classify(self):
        """Whether the model has the star/galaxy head."""
        return self._metadata['classify']

    @property
    def band_maps(self):
        """Whether the model has per-band contribution maps."""
        return self._metadata['band_maps']

    @property
    def name(self):
        """The Keras model's name."""
        return self._metadata['name']

    @property
    def output_names(self):
        """The names of the outputs, as the Keras model's."""
        return list(self._outputs)

    def __call__(self, images, training=False):
        """
        Run the network on a batch of normalised images.

        Parameters
        ----------
        images : array_like, shape (batch, h, w, b)
            Normalised images (`~pais_deblend.model.normalize_image`),
            converted to float32.
        training : bool, optional
            Accepted for the Keras call signature; must be False.

        Returns
        -------
        outputs : dict of str to `~numpy.ndarray`
            The outputs by name, float32, shaped as the Keras model's.
        """
        if training:
            msg = 'training must be False: an ONNX model only runs inference'
            raise ValueError(msg)
        images = np.ascontiguousarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[-1] != self.n_bands:
            msg = (f'images must have shape (batch, h, w, {self.n_bands}), '
                   f'got {images.shape}')
            raise ValueError(msg)
        height, width = images.shape[1:3]
        padded = padded_shape((height, width), self.downsampling_factor)
        if padded != (height, width):
            # the Keras model pads and crops inside its graph; the exported
            # graph keeps the padding of the shape it was traced with, so
            # the padding happens here
            images = np.pad(images, ((0, 0), (0, padded[0] - height),
                                     (0, padded[1] - width), (0, 0)))
        values = self._session.run(self._outputs, {self._input: images})
        return {name: np.ascontiguousarray(value[:, :height, :width])
                for name, value in zip(self._outputs, values)}


def _read_metadata(session, path):
    """The model description `export_onnx` stored in the file."""
    stored = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if stored is None:
        msg = (f'model file {path!r} is an ONNX model without the '
               f'{METADATA_KEY!r} metadata: write it with '
               f'pais_deblend.model.onnx_runtime.export_onnx')
        raise ValueError(msg)
    try:
        metadata = json.loads(stored)
    except ValueError as error:
        msg = (f'model file {path!r} has unreadable {METADATA_KEY!r} '
               f'metadata ({error})')
        raise ValueError(msg) from None
    missing = ([] if not isinstance(metadata, dict) else
               [key for key in _REQUIRED_KEYS if key not in metadata])
    if not isinstance(metadata, dict) or missing:
        msg = (f'model file {path!r} has incomplete {METADATA_KEY!r} '
               f'metadata (missing: {", ".join(missing) or "all"})')
        raise ValueError(msg)
    return metadata


def load_onnx_model(filename, **options):
    """
    Load an ONNX file written by `export_onnx`.

    Parameters
    ----------
    filename : str or path-like
    **options
        ``threads`` and ``providers`` of `OnnxPAISModel`.

    Returns
    -------
    model : `OnnxPAISModel`

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an ONNX model written by `export_onnx`.
    """
    return OnnxPAISModel(filename, **options)
