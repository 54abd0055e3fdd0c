"""
Benchmarks of pais_deblend.simulation.

1. Scene rate: single-band 256 x 256 ``hst_f160w`` scenes with ~30 sources,
   one process and ``--processes`` processes (wall clock and CPU time).
2. Time to write a training set of ``--n-write`` scenes (default 10,000)
   with ``write_training_set(n_workers=--processes)``; the set is written to
   a temporary directory and deleted afterwards.
3. Encoding efficacy (Hausen & Robertson 2022, Table 2) on ``--n-efficacy``
   simulated ``hst_f160w`` scenes for both contributor choices, next to the
   paper's figures.

The machine load (``os.getloadavg``) is printed with every figure: the
timings are only comparable at similar load.

Usage::

    python benchmarks/bench_simulation.py                       # everything
    python benchmarks/bench_simulation.py --skip-write --n-efficacy 100
"""

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time

import numpy as np

from _output import add_json_option, write_json

SHAPE = (256, 256)
# hst_f160w at this density gives ~30 sources with centres in a 256 x 256
# frame (plus ~8 just outside whose light enters it)
DENSITY = 450.0
PAPER_TABLE_2 = {'flux_mae': 1.97, 'flux_mae_std': 15.43,
                 'ks_pvalue_mean': 0.93, 'ks_pvalue_std': 0.22}


def load():
    return '{:.2f} {:.2f} {:.2f}'.format(*os.getloadavg())


def _rate_worker(arguments):
    first, count, seconds = arguments
    from pais_deblend.simulation import SceneSimulator

    simulator = SceneSimulator('hst_f160w', shape=SHAPE, density=DENSITY)
    for seed in range(3):
        simulator.simulate(10**6 + seed)            # warm the tables
    start = time.perf_counter()
    cpu = time.process_time()
    n_scenes = n_sources = n_inside = 0
    while time.perf_counter() - start < seconds:
        scene = simulator.simulate(first + n_scenes)
        n_scenes += 1
        n_sources += scene.n_sources
        n_inside += int(np.sum(scene.catalog['in_frame']))
    return (n_scenes, n_sources, n_inside, time.perf_counter() - start,
            time.process_time() - cpu)


def bench_scene_rate(processes, seconds):
    results = {}
    n_scenes, n_sources, n_inside, wall, cpu = _rate_worker((0, 0, seconds))
    results['single'] = {
        'scenes_per_second': n_scenes / wall, 'scenes_per_cpu_second': n_scenes / cpu,
        'sources_per_scene': n_sources / n_scenes,
        'sources_in_frame_per_scene': n_inside / n_scenes, 'load': load()}
    print(f"scene rate, 1 process: {n_scenes / wall:.1f} scenes/s "
          f"({n_scenes / cpu:.1f} per CPU-second), {n_sources / n_scenes:.1f} "
          f"sources drawn per scene ({n_inside / n_scenes:.1f} with centres in "
          f"the frame); load {load()}")
    if processes > 1:
        context = multiprocessing.get_context('spawn')
        with context.Pool(processes) as pool:
            # start-up (imports, tables) happens before each worker's clock
            outputs = pool.map(_rate_worker, [(k * 10**5, 0, seconds)
                                              for k in range(processes)])
        total = sum(o[0] for o in outputs)
        wall = max(o[3] for o in outputs)
        rate = total / wall
        results['parallel'] = {'processes': processes, 'scenes_per_second': rate,
                               'load': load()}
        print(f"scene rate, {processes} processes: {rate:.1f} scenes/s; "
              f"load {load()}")
    return results


def bench_write(n_scenes, processes, directory):
    from pais_deblend.simulation import write_training_set

    output = os.path.join(directory, 'training_set')
    start = time.perf_counter()
    manifest = write_training_set(output, n_scenes=n_scenes, seed=2022,
                                  shape=SHAPE, n_workers=processes,
                                  progress_bar_enabled=False)
    seconds = time.perf_counter() - start
    size = sum(os.path.getsize(os.path.join(output, name))
               for name in os.listdir(output))
    print(f'training set: {n_scenes} scenes ({manifest["n_sources"]} sources, '
          f'{size / 1e9:.2f} GB) written in {seconds:.0f} s '
          f'({n_scenes / seconds:.1f} scenes/s) with {processes} workers; '
          f'load {load()}')
    shutil.rmtree(output)
    return {'n_scenes': n_scenes, 'seconds': seconds, 'bytes': size,
            'workers': processes, 'load': load()}


def _efficacy_worker(arguments):
    first, count, choice = arguments
    from astropy.table import vstack

    from pais_deblend.evaluation import encoding_efficacy
    from pais_deblend.simulation import SceneSimulator
    from pais_deblend.simulation.dataset import scene_seed

    simulator = SceneSimulator('hst_f160w', shape=SHAPE)
    tables = []
    for index in range(first, first + count):
        scene = simulator.simulate(scene_seed(7, index))
        if scene.n_sources == 0:
            continue
        table = encoding_efficacy(scene.source_cutouts(), scene.centers,
                                  data=scene.image.astype(np.float64),
                                  n_contributors=3, contributor_choice=choice)
        tables.append(table)
    for table in tables:
        table.meta.clear()
    return vstack(tables, metadata_conflicts='silent')


def bench_efficacy(n_scenes, processes):
    from astropy.table import vstack

    from pais_deblend.evaluation import efficacy_summary

    results = {}
    context = multiprocessing.get_context('spawn')
    chunks = np.array_split(np.arange(n_scenes), max(processes, 1) * 4)
    for choice in ('nearest', 'most_flux'):
        start = time.perf_counter()
        jobs = [(int(c[0]), len(c), choice) for c in chunks if len(c)]
        if processes > 1:
            with context.Pool(processes) as pool:
                table = vstack(pool.map(_efficacy_worker, jobs),
                               metadata_conflicts='silent')
        else:
            table = vstack([_efficacy_worker(job) for job in jobs],
                           metadata_conflicts='silent')
        summary = efficacy_summary(table)
        summary['seconds'] = time.perf_counter() - start
        summary['load'] = load()
        results[choice] = summary
        print(f"encoding efficacy, {choice:9s} ({n_scenes} hst_f160w scenes, "
              f"{summary['n_sources']} sources): flux MAE "
              f"{summary['flux_mae']:.3g} +- {summary['flux_mae_std']:.3g} e/s, "
              f"median |relative error| {summary['median_abs_relative_error']:.3g}, "
              f"KS p {summary['ks_pvalue_mean']:.2f} +- {summary['ks_pvalue_std']:.2f} "
              f"({summary['seconds']:.0f} s; load {load()})")
    print(f"paper Table 2 (SCARLET labels on HLF F160W): flux MAE "
          f"{PAPER_TABLE_2['flux_mae']} +- {PAPER_TABLE_2['flux_mae_std']} e/s, "
          f"KS p {PAPER_TABLE_2['ks_pvalue_mean']} +- {PAPER_TABLE_2['ks_pvalue_std']}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--processes', type=int, default=2)
    parser.add_argument('--seconds', type=float, default=10.0,
                        help='duration of each scene-rate measurement')
    parser.add_argument('--n-write', type=int, default=10_000)
    parser.add_argument('--n-efficacy', type=int, default=500)
    parser.add_argument('--skip-rate', action='store_true')
    parser.add_argument('--skip-write', action='store_true')
    parser.add_argument('--skip-efficacy', action='store_true')
    parser.add_argument('--tmpdir', default=None,
                        help='where the training set is written (deleted after)')
    add_json_option(parser)
    args = parser.parse_args()
    print(f'cpus: {os.cpu_count()}, load at start: {load()}')
    results = {}
    if not args.skip_rate:
        results['scene_rate'] = bench_scene_rate(args.processes, args.seconds)
    if not args.skip_efficacy:
        results['efficacy'] = bench_efficacy(args.n_efficacy, args.processes)
        results['paper_table_2'] = PAPER_TABLE_2
    if not args.skip_write:
        with tempfile.TemporaryDirectory(dir=args.tmpdir) as directory:
            results['write'] = bench_write(args.n_write, args.processes, directory)
    write_json(args.json, results)


if __name__ == '__main__':
    main()
