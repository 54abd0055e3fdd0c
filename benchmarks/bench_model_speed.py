"""
Forward-pass throughput of the PAIS network on CPU.

Builds the default network (`build_pais_model()`: filters 8, 16, 32, 32,
attention window 5, n = 3; untrained weights run exactly as fast as
trained ones) and times:

- the bare forward pass on one ``--size`` x ``--size`` image (a single
  tile, compiled with ``tf.function``), in Mpix/s;
- `predict_pcr` on the same image with ``--tile`` cores and the default
  (exact) overlap, which adds normalisation, tiling overhead and
  stitching, in Mpix/s.

Each timing is the best of ``--repeat`` runs after a warm-up. Besides wall
time it prints the process CPU time: on a machine shared with other busy
processes wall time mostly measures this process's share of the cores.

Usage::

    python benchmarks/bench_model_speed.py [--size 1024] [--tile 512]
        [--repeat 3] [--threads 0]
"""

import argparse
import os
import platform
import time

import numpy as np
from _output import add_json_option, write_json

# sets TF_ENABLE_ONEDNN_OPTS=0 unless already set, before TensorFlow loads
import pais_deblend.model  # noqa: F401


def timed(function, repeat):
    best_wall = best_cpu = np.inf
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--size', type=int, default=1024)
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--threads', type=int, default=0,
                        help='TensorFlow intra-op threads (0: default)')
    add_json_option(parser)
    args = parser.parse_args()

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)

    from pais_deblend.model import build_pais_model, predict_pcr
    from pais_deblend.model.inference import default_overlap

    model = build_pais_model(seed=0)
    rng = np.random.default_rng(0)
    image = rng.normal(size=(args.size, args.size)).astype(np.float32)
    megapixels = args.size * args.size / 1e6

    spec = tf.TensorSpec((None, None, None, 1), tf.float32)
    forward = tf.function(lambda x: model(x, training=False),
                          input_signature=[spec])
    batch = tf.constant(image[np.newaxis, :, :, np.newaxis])
    forward(batch)  # warm-up / trace
    wall, cpu = timed(lambda: [np.asarray(v) for v in
                               forward(batch).values()], args.repeat)

    predict_pcr(model, image, tile_size=args.tile)  # warm-up
    tile_wall, tile_cpu = timed(
        lambda: predict_pcr(model, image, tile_size=args.tile), args.repeat)

    print(f'machine: {platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores visible; TensorFlow {tf.__version__}, '
          f'TF_ENABLE_ONEDNN_OPTS={os.environ.get("TF_ENABLE_ONEDNN_OPTS")}')
    print(f'model: {model.architecture}, {model.count_params()} parameters, '
          f'receptive-field radius {model.receptive_field_radius} px, '
          f'default overlap {default_overlap(model)} px')
    print(f'image: {args.size} x {args.size} ({megapixels:.2f} Mpix), '
          f'best of {args.repeat}')
    print(f'forward pass (one tile): {wall:.3f} s wall, {cpu:.3f} s CPU -> '
          f'{megapixels / wall:.3f} Mpix/s (wall), '
          f'{megapixels / cpu:.3f} Mpix/s per CPU-second')
    print(f'predict_pcr (tile {args.tile}): {tile_wall:.3f} s wall, '
          f'{tile_cpu:.3f} s CPU -> {megapixels / tile_wall:.3f} Mpix/s '
          f'(wall)')
    write_json(args.json, {
        'tensorflow': tf.__version__, 'architecture': model.architecture,
        'parameters': model.count_params(),
        'receptive_field_radius': model.receptive_field_radius,
        'default_overlap': default_overlap(model), 'size': args.size,
        'repeat': args.repeat,
        'forward': {'wall_seconds': wall, 'cpu_seconds': cpu,
                    'mpix_per_second': megapixels / wall},
        'predict_pcr': {'tile': args.tile, 'wall_seconds': tile_wall,
                        'cpu_seconds': tile_cpu,
                        'mpix_per_second': megapixels / tile_wall}})


if __name__ == '__main__':
    main()
