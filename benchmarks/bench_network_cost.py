"""
Cost of the network architectures on CPU: the 'pais' network and
variants of the 'light' one (`build_pais_model(architecture='light')`).

For every variant it prints

- the number of parameters;
- the FLOPs per input pixel, counted from the layer shapes (a multiply-add
  is 2 FLOPs; convolutions, their biases and the attention arithmetic
  count, activations, additions of residual blocks, upsampling and
  concatenation do not), and the share of them at full resolution;
- the receptive-field radius: the bound of `receptive_field_radius`
  and the measured one (the farthest input pixel with a non-zero
  gradient of an output pixel, for output pixels of the two phases of
  the downsampling grid where the 'light' network reaches farthest), and
  the default tile overlap `default_overlap`;
- the best-of-``--repeat`` wall and process CPU time of one forward pass
  of a single-band ``--sizes`` image (a batch of one), compiled as
  `~pais_deblend.model.predict_pcr` compiles it: ``tf.function`` with XLA
  (``jit_compile=True``, what images of 4 tiles or more get) and, with
  ``--modes xla graph``, a plain ``tf.function`` graph; Mpix/s from the
  wall time, and the Mpix/s of a `predict_pcr` of 512-pixel tile cores
  estimated from it (times the core's share of the tile window,
  (512 / (512 + 2 overlap))**2);
- with ``--predict-size S``, the best-of-``--repeat`` wall and CPU time
  of `predict_pcr` itself (normalisation, tiles, stitching; XLA for 4
  tiles or more) on an S x S image with ``--tile`` cores, for the
  variants built by `build_pais_model` (not those with other light
  options).

Variants are timed interleaved (every repeat runs all of them in turn),
so load from other processes on a shared machine affects them alike;
the load average (``os.getloadavg``) is printed before and after. The
weights are untrained (they run exactly as fast as trained ones).

Usage::

    python benchmarks/bench_network_cost.py [--sizes 512 1024]
        [--repeat 5] [--modes xla] [--variants pais light ...]
        [--predict-size 2048] [--tile 512] [--json PATH]
"""

import argparse
import json
import os
import platform
import time

import numpy as np

# sets TF_ENABLE_ONEDNN_OPTS=0 unless already set, before TensorFlow loads
import pais_deblend.model  # noqa: F401

#: name -> (architecture, filters, attention_window, light options).
#: Light options not given are those of `LIGHT_OPTIONS`.
VARIANTS = {
    'pais': ('pais', (8, 16, 32, 32), 5, None),
    'pais_bundled': ('pais', (8, 16, 32, 64), 5, None),
    'light': ('light', (8, 16, 32, 64), 3, {}),
    'light_w5': ('light', (8, 16, 32, 64), 5, {}),
    'light_3scales': ('light', (8, 16, 32), 5, {}),
    'light_wide': ('light', (16, 32, 64, 64), 3, {}),
    'light_wide_w5': ('light', (16, 32, 64, 64), 5, {}),
    'light_wide_3scales': ('light', (16, 32, 64), 5, {}),
    'light_separable': ('light', (8, 16, 32, 64), 3, {'separable': True}),
    'light_2convs': ('light', (8, 16, 32, 64), 3, {'decoder_convs': 2}),
    'light_head16': ('light', (8, 16, 32, 64), 3, {'head_filters': 16}),
}


def build_variant(name, n_bands=1):
    """The model of variant ``name`` and its bound on the radius."""
    import keras

    from pais_deblend.model import build_pais_model
    from pais_deblend.model import network

    architecture, filters, window, options = VARIANTS[name]
    if architecture == 'pais' or not options:
        model = build_pais_model(n_bands, filters=filters,
                                 attention_window=window,
                                 architecture=architecture, seed=0)
        return model, model.receptive_field_radius, model.downsampling_factor
    options = dict(network.LIGHT_OPTIONS, **options)
    keras.utils.set_random_seed(0)
    inputs, outputs = network._build_light_graph(
        n_bands, 3, filters, window, None, 32.0, 'silu', **options)
    model = keras.Model(inputs, outputs, name=name)
    radius = network._light_receptive_field(len(filters), window, **options)
    return model, radius, 2 ** len(filters)


def _conv_flops(layer, in_channels, out_channels):
    kernel = int(np.prod(layer.kernel_size))
    if type(layer).__name__ == 'SeparableConv2D':
        return kernel * in_channels * 2 + in_channels * out_channels * 2 + (
            out_channels)
    if type(layer).__name__ == 'DepthwiseConv2D':
        return kernel * in_channels * 2 + in_channels
    return kernel * in_channels * out_channels * 2 + out_channels


def _attention_flops(layer, channels):
    key_dim, window = layer.key_dim, layer.window
    projections = 2 * (2 * channels * key_dim) + 2 * (2 * channels * channels)
    normalisation = 2 * 3 * key_dim
    outer = key_dim * channels
    box_mean = key_dim * channels * (2 * (window - 1) + 1)
    attended = 2 * key_dim * channels + channels
    return projections + normalisation + outer + box_mean + attended


def count_flops(model, n_bands=1, size=64):
    """
    FLOPs per input pixel, in total and by resolution (a dict
    {downsampling: FLOPs per input pixel}), from the layer shapes of a
    ``size`` x ``size`` pass.
    """
    import keras

    layers = [layer for layer in model.layers
              if not isinstance(layer, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe([np.zeros((1, size, size, n_bands), np.float32)])
    shapes = {layer.name: tuple(output.shape)
              for layer, output in zip(layers, outputs)}
    shapes[model.inputs[0]._keras_history.operation.name] = (
        1, size, size, n_bands)
    by_scale = {}
    for layer in layers:
        kind = type(layer).__name__
        if kind not in ('Conv2D', 'SeparableConv2D', 'DepthwiseConv2D',
                        'LocalLinearAttention'):
            continue
        source = layer.input._keras_history.operation.name
        in_channels = shapes[source][-1]
        out_shape = shapes[layer.name]
        out_pixels = out_shape[1] * out_shape[2]
        if kind == 'LocalLinearAttention':
            per_pixel = _attention_flops(layer, in_channels)
        else:
            per_pixel = _conv_flops(layer, in_channels, out_shape[-1])
        scale = size // out_shape[1]
        by_scale[scale] = by_scale.get(scale, 0.0) + (
            per_pixel * out_pixels / size ** 2)
    return sum(by_scale.values()), by_scale


def measured_radius(model, factor, bound, n_bands=1):
    """
    The farthest input pixel on which an output pixel depends (a non-zero
    gradient of the sum of all its outputs), for output pixels of phase
    0 and ``factor - 1`` (the phases at which the reach of the 'light'
    network is longest, below and above).
    """
    import tensorflow as tf

    size = 2 * bound + 4 * factor
    size += (-size) % factor
    image = np.random.default_rng(0).normal(size=(1, size, size, n_bands))
    images = tf.Variable(np.repeat(image, 2, axis=0).astype(np.float32))
    centre = size // 2 - (size // 2) % factor
    centres = (centre, centre + factor - 1)
    with tf.GradientTape() as tape:
        outputs = model(images)
        value = sum(tf.reduce_sum(output[i, centre, centre])
                    for output in outputs.values()
                    for i, centre in enumerate(centres))
    gradient = np.abs(np.asarray(tape.gradient(value, images))).sum(-1)
    radius = 0
    for i, centre in enumerate(centres):
        ys, xs = np.nonzero(gradient[i])
        radius = max(radius, int(np.abs(ys - centre).max()),
                     int(np.abs(xs - centre).max()))
    return radius


def forward_function(model, mode, n_bands=1):
    """The compiled forward pass, as `predict_pcr` compiles it."""
    import tensorflow as tf

    if mode == 'xla':
        @tf.function(jit_compile=True, reduce_retracing=True)
        def function(images):
            return model(images, training=False)
    else:
        spec = tf.TensorSpec((None, None, None, n_bands), tf.float32)

        @tf.function(input_signature=[spec])
        def function(images):
            return model(images, training=False)
    return function


def timed(function, argument):
    wall, cpu = time.perf_counter(), time.process_time()
    outputs = function(argument)
    if isinstance(outputs, dict):  # a network pass: wait for the results
        for value in outputs.values():
            np.asarray(value)
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--sizes', type=int, nargs='+', default=[512, 1024])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--modes', nargs='+', default=['xla'],
                        choices=['xla', 'graph'])
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument('--tile', type=int, default=512,
                        help='tile core of predict_pcr')
    parser.add_argument('--predict-size', type=int, default=0,
                        help='also time predict_pcr on an image this size')
    parser.add_argument('--json', help='write the results to this file')
    args = parser.parse_args()

    import tensorflow as tf

    from pais_deblend.model import PAISModel, predict_pcr
    from pais_deblend.model.inference import default_overlap

    load_before = os.getloadavg()
    rows = {}
    functions = {}
    models = {}
    for name in args.variants:
        model, bound, factor = build_variant(name)
        flops, by_scale = count_flops(model)

        class _Shape:  # default_overlap reads these two attributes
            receptive_field_radius = bound
            downsampling_factor = factor
        overlap = default_overlap(_Shape)
        rows[name] = {
            'architecture': VARIANTS[name][0],
            'filters': list(VARIANTS[name][1]),
            'attention_window': VARIANTS[name][2],
            'light_options': VARIANTS[name][3],
            'parameters': int(model.count_params()),
            'flops_per_pixel': round(flops),
            'full_resolution_flops_share': round(by_scale.get(1, 0) / flops,
                                                 3),
            'receptive_field_bound': int(bound),
            'receptive_field_measured': measured_radius(model, factor,
                                                        bound),
            'downsampling_factor': factor,
            'default_overlap': overlap,
            'tile_core_share': (args.tile / (args.tile + 2 * overlap)) ** 2,
            'timings': {},
        }
        for mode in args.modes:
            functions[name, mode] = forward_function(model, mode)
        if isinstance(model, PAISModel):
            models[name] = model
        print(f'{name}: built, {rows[name]["parameters"]} parameters, '
              f'{flops / 1e3:.1f} kFLOP/pixel', flush=True)

    rng = np.random.default_rng(0)
    images = {size: tf.constant(rng.normal(size=(1, size, size, 1)).astype(
        np.float32)) for size in args.sizes}
    for key, function in functions.items():  # compile / trace
        for size in args.sizes:
            function(images[size])
    best = {}
    for _ in range(args.repeat):
        for (name, mode), function in functions.items():
            for size in args.sizes:
                wall, cpu = timed(function, images[size])
                old = best.get((name, mode, size), (np.inf, np.inf))
                best[name, mode, size] = (min(old[0], wall),
                                          min(old[1], cpu))
    if args.predict_size:
        image = rng.normal(size=(args.predict_size, args.predict_size))
        for model in models.values():  # compile
            predict_pcr(model, image, tile_size=args.tile)
        for _ in range(args.repeat):
            for name, model in models.items():
                wall, cpu = timed(lambda x: predict_pcr(
                    model, x, tile_size=args.tile), image)
                old = best.get((name, 'predict', args.predict_size),
                               (np.inf, np.inf))
                best[name, 'predict', args.predict_size] = (
                    min(old[0], wall), min(old[1], cpu))
    load_after = os.getloadavg()

    for (name, mode, size), (wall, cpu) in best.items():
        megapixels = size * size / 1e6
        rows[name]['timings'][f'{mode}_{size}'] = {
            'wall_s': round(wall, 4), 'cpu_s': round(cpu, 4),
            'mpix_per_s': round(megapixels / wall, 3),
            'mpix_per_cpu_s': round(megapixels / cpu, 3),
            'tiled_mpix_per_s_estimate': round(
                megapixels / wall * rows[name]['tile_core_share'], 3)}

    machine = (f'{platform.processor() or platform.machine()}, '
               f'{os.cpu_count()} cores visible; TensorFlow '
               f'{tf.__version__}, TF_ENABLE_ONEDNN_OPTS='
               f'{os.environ.get("TF_ENABLE_ONEDNN_OPTS")}')
    print(f'machine: {machine}')
    print(f'load average (1, 5, 15 min) before: {load_before}, '
          f'after: {load_after}; best of {args.repeat}')
    header = (f'{"variant":16s} {"params":>7s} {"kFLOP/px":>8s} '
              f'{"full-res":>8s} {"radius":>9s} {"overlap":>7s}')
    print(header)
    for name, row in rows.items():
        print(f'{name:16s} {row["parameters"]:7d} '
              f'{row["flops_per_pixel"] / 1e3:8.1f} '
              f'{row["full_resolution_flops_share"]:8.0%} '
              f'{row["receptive_field_bound"]:4d}/'
              f'{row["receptive_field_measured"]:<4d} '
              f'{row["default_overlap"]:7d}')
    print('(radius: bound / measured; full-res: share of the FLOPs at full '
          'resolution)')
    tables = [(mode, size) for mode in args.modes for size in args.sizes]
    if args.predict_size:
        tables.append(('predict', args.predict_size))
    for mode, size in tables:
        key = f'{mode}_{size}'
        names = [name for name, row in rows.items() if key in row['timings']]
        what = ('predict_pcr' if mode == 'predict'
                else f'forward pass, {mode}')
        print(f'\n{what}, {size} x {size}:')
        print(f'{"variant":16s} {"wall s":>7s} {"CPU s":>7s} '
              f'{"Mpix/s":>7s} {"tiled":>7s} '
              f'{"speed-up vs " + names[0]:>20s}')
        base = rows[names[0]]['timings'][key]['wall_s']
        for name in names:
            timing = rows[name]['timings'][key]
            tiled = ('-' if mode == 'predict' else
                     f'{timing["tiled_mpix_per_s_estimate"]:.2f}')
            print(f'{name:16s} {timing["wall_s"]:7.3f} '
                  f'{timing["cpu_s"]:7.3f} {timing["mpix_per_s"]:7.2f} '
                  f'{tiled:>7s} {base / timing["wall_s"]:20.2f}')
    print('(tiled: Mpix/s of a predict_pcr with '
          f'{args.tile}-pixel tile cores, estimated)')
    if args.json:
        with open(args.json, 'w') as handle:
            json.dump({'machine': machine, 'date': time.strftime('%Y-%m-%d'),
                       'load_before': load_before, 'load_after': load_after,
                       'repeat': args.repeat, 'sizes': args.sizes,
                       'modes': args.modes, 'variants': rows}, handle,
                      indent=1)


if __name__ == '__main__':
    main()
