"""
The PAIS network (Hausen & Robertson 2022, arXiv:2201.04714, section 3.2)
in Keras 3.

Architecture (:ref:`model-architecture` in the documentation):

- **Shared encoder**: a 3x3 stem convolution, then one residual stage per
  entry of ``filters`` (the authors used 8, 16, 32, 32); stage 0 keeps the
  full resolution, every later stage halves it with a strided residual
  block. Each stage ends with a fast-attention block
  (`~pais_deblend.model.layers.LocalLinearAttention`: L2-normalised
  queries and keys, no softmax).
- **Spatial decoder**: nearest-neighbour upsampling, concatenation with the
  encoder stage of the same scale, two 3x3 convolutions per scale; heads
  for C^c (1x1 convolution, sigmoid) and C^v (1x1 convolution predicting
  v / ``vector_scale``, rescaled to pixels by
  `~pais_deblend.model.layers.ContributionVectors`).
- **Attribution decoder**: the same structure, also reading the spatial
  decoder's features at every scale through
  `~pais_deblend.model.layers.StopGradient`; head: C^m logits
  (1x1 convolution, no activation).
- Optional heads (off by default, so the single-band model keeps its
  graph): ``classify=True`` adds a star/galaxy head on the spatial
  decoder, a per-pixel sigmoid ``star_probability`` (the share of the
  pixel's flux that comes from stars; read at a source's centre it
  classifies the source, as the class branch of the Mask R-CNN deblender
  of Burke et al. 2019 does per box); ``band_maps=True`` adds per-band
  contribution maps ``band_contribution_maps`` (h, w, b, n) logits on
  the attribution decoder, so blended sources keep their own colours.

The model is fully convolutional: any (h, w) and a fixed number of bands
b. Inputs are zero-padded at the bottom/right to a multiple of the
downsampling factor 2**(len(filters) - 1) and outputs cropped back.

**Tiling.** There is no normalisation layer with per-image statistics
and the attention is local (a sliding window, not global over the
image), so every output pixel depends only on input pixels within
`receptive_field_radius` of it (plus the frame's zero padding). When an
image is cut into tiles whose origins are multiples of the downsampling
factor and which overlap by at least the receptive-field radius, the
stitched tile cores equal a single pass over the whole image to float
rounding (`pais_deblend.model.predict_pcr`). A global linear attention,
as in the authors' network, would make every output depend on the tile
extent; the windowed attention trades that global context (here a
window of ``attention_window`` pixels at each scale, i.e. up to
``attention_window * 2**(len(filters) - 1)`` input pixels at the coarsest
scale) for exact tile independence.

Inputs must be normalised with `pais_deblend.model.normalize_image`.
"""

import keras

from .layers import (BandContributionMaps, ContributionVectors,
                     CropToReference, LocalLinearAttention, PadToMultiple,
                     StopGradient)

__all__ = ['PAISModel', 'build_pais_model', 'load_model',
           'receptive_field_radius', 'OUTPUT_NAMES', 'OPTIONAL_OUTPUT_NAMES']

#: The names of the model's outputs (a dict of tensors).
OUTPUT_NAMES = ('center_of_mass', 'contribution_vectors',
                'contribution_maps')

#: The names of the optional outputs (``classify``, ``band_maps``).
OPTIONAL_OUTPUT_NAMES = ('star_probability', 'band_contribution_maps')


def _check_config(n_bands, n_contributors, filters, attention_window,
                  key_dim, vector_scale):
    for name, value in (('n_bands', n_bands),
                        ('n_contributors', n_contributors)):
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f'{name} must be a positive integer, got {value!r}'
            raise TypeError(msg)
        if value < 1:
            msg = f'{name} must be a positive integer, got {value}'
            raise ValueError(msg)
    filters = tuple(filters)
    if not filters or not all(isinstance(f, int) and not isinstance(f, bool)
                              and f > 0 for f in filters):
        msg = f'filters must be a non-empty sequence of positive ints, got {filters!r}'
        raise ValueError(msg)
    if attention_window is not None and (
            not isinstance(attention_window, int) or attention_window < 1
            or attention_window % 2 == 0):
        msg = ('attention_window must be None or a positive odd integer, '
               f'got {attention_window!r}')
        raise ValueError(msg)
    if key_dim is not None and (not isinstance(key_dim, int)
                                or key_dim < 1):
        msg = f'key_dim must be None or a positive integer, got {key_dim!r}'
        raise ValueError(msg)
    if not (isinstance(vector_scale, (int, float))
            and vector_scale > 0):
        msg = f'vector_scale must be a number > 0, got {vector_scale!r}'
        raise ValueError(msg)
    return filters


def receptive_field_radius(filters=(8, 16, 32, 32), attention_window=5):
    """
    An upper bound on the receptive-field radius of the network, in pixels.

    Every output pixel depends only on input pixels within this distance
    (along each axis) of it. Tiles overlapping by at least this much (see
    `pais_deblend.model.predict_pcr`) give the same result as one pass.

    Parameters
    ----------
    filters : sequence of int
        The encoder filters (one per scale).
    attention_window : int or None
        The attention window (None: no attention).

    Returns
    -------
    radius : int
    """
    attention = 0 if attention_window is None else attention_window // 2
    jump = 1
    radius = 1  # stem 3x3
    skips = []
    for stage in range(len(filters)):
        if stage == 0:
            radius += 2 * jump
        else:
            radius += 2 * jump  # strided 3x3: offsets 0..2 at the old jump
            jump *= 2
            radius += jump
        radius += attention * jump
        skips.append((radius, jump))
    spatial = attribution = skips[-1][0]
    for stage in range(len(filters) - 2, -1, -1):
        skip_radius, jump = skips[stage]
        spatial = max(spatial + jump, skip_radius) + 2 * jump
        attribution = max(attribution + jump, skip_radius,
                          spatial - 2 * jump) + 2 * jump
    return int(max(spatial, attribution))


@keras.saving.register_keras_serializable(package='pais_deblend')
class PAISModel(keras.Model):
    """
    The PAIS network as a Keras functional model with a compact config.

    Use `build_pais_model` to create one. Calling the model on a
    (batch, h, w, b) float32 tensor of normalised images returns a dict:

    - ``center_of_mass``: (batch, h, w, 1), sigmoid, C^c;
    - ``contribution_vectors``: (batch, h, w, n, 2), C^v in pixels,
      (dy, dx) = centre - pixel;
    - ``contribution_maps``: (batch, h, w, n), C^m logits (softmax over
      the n slots gives the fractions);
    - with ``classify=True``, ``star_probability``: (batch, h, w, 1),
      sigmoid, the share of the pixel's flux from stars;
    - with ``band_maps=True``, ``band_contribution_maps``:
      (batch, h, w, b, n), per-band C^m logits.

    ``get_config`` holds only the constructor arguments, so the model
    saves to ``.keras`` and reloads with ``safe_mode=True``.
    """

    def __init__(self, n_bands=1, n_contributors=3, filters=(8, 16, 32, 32),
                 attention_window=5, key_dim=None, vector_scale=32.0,
                 activation='silu', classify=False, band_maps=False,
                 name='pais_model', **kwargs):
        filters = _check_config(n_bands, n_contributors, filters,
                                attention_window, key_dim, vector_scale)
        for option, value in (('classify', classify),
                              ('band_maps', band_maps)):
            if not isinstance(value, bool):
                msg = f'{option} must be True or False, got {value!r}'
                raise TypeError(msg)
        inputs, outputs = _build_graph(
            n_bands, n_contributors, filters, attention_window, key_dim,
            float(vector_scale), activation, classify, band_maps)
        kwargs.pop('trainable', None)
        super().__init__(inputs=inputs, outputs=outputs, name=name)
        self._architecture = dict(
            n_bands=int(n_bands), n_contributors=int(n_contributors),
            filters=list(filters), attention_window=attention_window,
            key_dim=key_dim, vector_scale=float(vector_scale),
            activation=activation)
        # recorded only when on, so older model files keep their config
        if classify:
            self._architecture['classify'] = True
        if band_maps:
            self._architecture['band_maps'] = True

    @property
    def classify(self):
        """Whether the model has the star/galaxy head."""
        return self._architecture.get('classify', False)

    @property
    def band_maps(self):
        """Whether the model predicts per-band contribution maps."""
        return self._architecture.get('band_maps', False)

    @property
    def architecture(self):
        """The constructor arguments (a new dict)."""
        return dict(self._architecture,
                    filters=list(self._architecture['filters']))

    @property
    def n_bands(self):
        """The number b of input bands."""
        return self._architecture['n_bands']

    @property
    def n_contributors(self):
        """The number n of contributor slots."""
        return self._architecture['n_contributors']

    @property
    def downsampling_factor(self):
        """The total encoder downsampling factor, 2**(len(filters) - 1)."""
        return 2 ** (len(self._architecture['filters']) - 1)

    @property
    def receptive_field_radius(self):
        """See `receptive_field_radius`."""
        return receptive_field_radius(self._architecture['filters'],
                                      self._architecture['attention_window'])

    def get_config(self):
        return dict(self.architecture, name=self.name)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """
        Rebuild the model from the dictionary made by ``get_config``.
        """
        return cls(**config)


def _build_graph(n_bands, n_contributors, filters, attention_window,
                 key_dim, vector_scale, activation, classify=False,
                 band_maps=False):
    layers = keras.layers
    n_scales = len(filters)

    def conv(x, n_filters, name, strides=1):
        return layers.Conv2D(n_filters, 3, strides=strides, padding='same',
                             name=name)(x)

    def act(x, name):
        return layers.Activation(activation, name=name)(x)

    def residual(x, n_filters, strides, name):
        y = act(conv(x, n_filters, f'{name}_conv1', strides), f'{name}_act1')
        y = conv(y, n_filters, f'{name}_conv2')
        shortcut = x
        if strides != 1 or x.shape[-1] != n_filters:
            shortcut = layers.Conv2D(n_filters, 1, strides=strides,
                                     name=f'{name}_shortcut')(x)
        y = layers.Add(name=f'{name}_add')([y, shortcut])
        return act(y, f'{name}_out')

    inputs = keras.Input(shape=(None, None, n_bands), name='image')
    x = PadToMultiple(2 ** (n_scales - 1), name='pad')(inputs)
    x = act(conv(x, filters[0], 'stem_conv'), 'stem_act')
    skips = []
    for stage, n_filters in enumerate(filters):
        x = residual(x, n_filters, 1 if stage == 0 else 2,
                     f'encoder{stage}')
        if attention_window is not None:
            dim = key_dim if key_dim is not None else max(4, n_filters // 4)
            x = LocalLinearAttention(dim, attention_window,
                                     name=f'encoder{stage}_attention')(x)
        skips.append(x)

    spatial = skips[-1]
    spatial_features = {}
    for stage in range(n_scales - 2, -1, -1):
        name = f'spatial{stage}'
        spatial = layers.UpSampling2D(2, name=f'{name}_up')(spatial)
        spatial = layers.Concatenate(name=f'{name}_concat')(
            [spatial, skips[stage]])
        spatial = act(conv(spatial, filters[stage], f'{name}_conv1'),
                      f'{name}_act1')
        spatial = act(conv(spatial, filters[stage], f'{name}_conv2'),
                      f'{name}_act2')
        spatial_features[stage] = spatial

    attribution = skips[-1]
    for stage in range(n_scales - 2, -1, -1):
        name = f'attribution{stage}'
        attribution = layers.UpSampling2D(2, name=f'{name}_up')(attribution)
        frozen = StopGradient(name=f'{name}_stop_gradient')(
            spatial_features[stage])
        attribution = layers.Concatenate(name=f'{name}_concat')(
            [attribution, skips[stage], frozen])
        attribution = act(conv(attribution, filters[stage],
                               f'{name}_conv1'), f'{name}_act1')
        attribution = act(conv(attribution, filters[stage],
                               f'{name}_conv2'), f'{name}_act2')

    center_of_mass = layers.Conv2D(1, 1, activation='sigmoid',
                                   name='center_of_mass_head')(spatial)
    vectors = layers.Conv2D(2 * n_contributors, 1,
                            name='contribution_vectors_head')(spatial)
    vectors = ContributionVectors(n_contributors, vector_scale,
                                  name='contribution_vectors_scale')(vectors)
    maps = layers.Conv2D(n_contributors, 1,
                         name='contribution_maps_head')(attribution)
    outputs = {
        'center_of_mass': CropToReference(name='center_of_mass')(
            [center_of_mass, inputs]),
        'contribution_vectors': CropToReference(name='contribution_vectors')(
            [vectors, inputs]),
        'contribution_maps': CropToReference(name='contribution_maps')(
            [maps, inputs]),
    }
    if classify:
        star = layers.Conv2D(1, 1, activation='sigmoid',
                             name='star_probability_head')(spatial)
        outputs['star_probability'] = CropToReference(
            name='star_probability')([star, inputs])
    if band_maps:
        per_band = layers.Conv2D(n_bands * n_contributors, 1,
                                 name='band_contribution_maps_head')(
                                     attribution)
        per_band = CropToReference(name='band_contribution_maps_crop')(
            [per_band, inputs])
        outputs['band_contribution_maps'] = BandContributionMaps(
            n_bands, n_contributors, name='band_contribution_maps')(per_band)
    return inputs, outputs


def build_pais_model(n_bands=1, n_contributors=3, filters=(8, 16, 32, 32),
                     *, attention_window=5, key_dim=None, vector_scale=32.0,
                     activation='silu', classify=False, band_maps=False,
                     seed=None):
    """
    Build the PAIS network (untrained).

    Parameters
    ----------
    n_bands : int, optional
        The number b of input bands.
    n_contributors : int, optional
        The number n of contributor slots of the PCR (paper: 3).
    filters : sequence of int, optional
        Encoder filters per scale (paper: 8, 16, 32, 32); the decoders use
        the same numbers. The downsampling factor is
        2**(len(filters) - 1).
    attention_window : int or None, optional
        The odd side of the sliding attention window at every scale, in
        pixels of that scale; None disables the attention blocks.
    key_dim : int, optional
        Query/key channels of the attention blocks (default
        max(4, filters // 4)).
    vector_scale : float, optional
        The C^v head predicts v / vector_scale (pixels).
    activation : str, optional
        A Keras activation name.
    classify : bool, optional
        Add the star/galaxy head (``star_probability``).
    band_maps : bool, optional
        Add per-band contribution maps (``band_contribution_maps``), for
        multi-band images.
    seed : int, optional
        Seeds Keras' weight initialisation (``keras.utils.set_random_seed``)
        for a reproducible initial model.

    Returns
    -------
    model : `PAISModel`
        A Keras model mapping (batch, h, w, b) normalised images to the
        dict of outputs described in `PAISModel`.
    """
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    return PAISModel(n_bands=n_bands, n_contributors=n_contributors,
                     filters=tuple(filters),
                     attention_window=attention_window, key_dim=key_dim,
                     vector_scale=vector_scale, activation=activation,
                     classify=classify, band_maps=band_maps)


def load_model(filename):
    """
    Load a saved PAIS model (``.keras``) with Keras safe mode on.

    Parameters
    ----------
    filename : str or path-like
        A file written by ``model.save`` (e.g. by
        `~pais_deblend.model.train`).

    Returns
    -------
    model : `PAISModel`

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not a whole ``.keras`` archive (truncated or corrupt:
        every member's CRC is checked before Keras reads it), Keras cannot
        read it (e.g. no ``config.json``, an unknown layer), or it holds a
        Keras model that is not a PAIS model; the message names the file
        and the cause.
    """
    import os
    import zipfile

    from . import layers  # noqa: F401  (registers the custom layers)

    path = os.fspath(filename)
    if not os.path.isfile(path):
        msg = f'model file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.testzip()
        damaged = None if member is None else f'member {member!r} fails its CRC'
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        damaged = f'not a zip archive ({error})'
    if damaged is not None:
        msg = (f'model file {path!r} is truncated or corrupt ({damaged}); '
               'save or copy it again')
        raise ValueError(msg)
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except MemoryError:
        raise
    except Exception as error:  # Keras raises KeyError, TypeError, ...
        msg = (f'model file {path!r} is not a Keras model Keras can read '
               f'({type(error).__name__}: {error})')
        raise ValueError(msg) from error
    missing = [name for name in ('n_contributors', 'receptive_field_radius')
               if not hasattr(model, name)]
    if missing:
        msg = (f'model file {path!r} holds a Keras {type(model).__name__}, '
               f'not a PAIS model (no {", ".join(missing)}); pass a model '
               'written by pais_deblend.model.train or a bundled model name')
        raise ValueError(msg)
    return model
