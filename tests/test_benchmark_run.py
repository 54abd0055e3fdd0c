"""Tests of the benchmark registry, runner, metrics, writers and CLI."""

import sys
import warnings

import numpy as np
import pytest
from astropy.table import Table

from pais_deblend.benchmark import (
    METHODS, SUITES, Method, MethodOutput, Suite, available_methods,
    available_suites, evaluate_output, get_method, get_suite, measure_method,
    register_method, register_suite, run_benchmark)
from pais_deblend.utils.exceptions import OptionalDependencyWarning

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from test_benchmark_adapters import gaussian_scene  # noqa: E402


class TinySuite(Suite):
    """Two Gaussian scenes: a separated pair and an isolated source."""

    name = 'tiny_test_suite'
    description = 'test scenes'

    def images(self, *, quick=False, seed=0):
        yield gaussian_scene([(24.0, 16.0), (24.0, 32.0)], [60.0, 15.0],
                             seed=seed, name='tiny-pair')
        image = gaussian_scene([(20.0, 20.0)], [40.0], seed=seed + 1,
                               name='tiny-single')
        yield image


class TruthMethod(Method):
    """A method registered by a test: returns the true dominant map."""

    name = 'truth_test_method'
    description = 'the truth, disjoint'
    default = False

    def run(self, image):
        from photutils.segmentation import SegmentationImage

        from pais_deblend.evaluation import truth_masks
        from pais_deblend.benchmark.adapters import _catalog

        masks = truth_masks(image.true_source_images,
                            threshold=image.noise_sigma, mode='dominant',
                            shape=image.shape)
        label_map = np.zeros(image.shape, dtype=np.int32)
        for i, mask in enumerate(masks):
            label_map[mask] = i + 1
        labels = np.arange(1, len(masks) + 1)
        flux = image.true_fluxes()
        return MethodOutput(SegmentationImage(label_map), _catalog(
            labels, image.true_centers[:, 0], image.true_centers[:, 1], flux,
            flux))


@pytest.fixture
def registered():
    register_suite(TinySuite(), overwrite=True)
    register_method(TruthMethod(), overwrite=True)
    yield
    SUITES.pop('tiny_test_suite', None)
    METHODS.pop('truth_test_method', None)


def test_registry_lists_the_peers_and_suites():
    for name in ('photutils', 'sep', 'sextractor', 'scarlet2_sep',
                 'scarlet2_true', 'pcr_ceiling'):
        assert name in available_methods()
        assert get_method(name).name == name
    assert set(available_suites()) >= {'pairs', 'field', 'hlf', 'encoding'}
    assert get_suite('encoding').methods == ('pcr_ceiling',)


def test_registry_errors():
    with pytest.raises(TypeError, match='method must be a Method'):
        register_method('sep')
    with pytest.raises(ValueError, match="already registered"):
        register_method(get_method('sep'))
    bad = TruthMethod()
    bad.name = 'has space'
    with pytest.raises(ValueError, match='method.name'):
        register_method(bad)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method('nope')
    with pytest.raises(ValueError, match="unknown suite 'nope'"):
        get_suite('nope')
    with pytest.raises(TypeError, match='suite must be a Suite'):
        register_suite('pairs')


def test_one_line_registration_runs_in_the_harness(registered, tmp_path):
    # the mechanism the PAIS network adapter uses
    results = run_benchmark(['truth_test_method', 'sep'], ['tiny_test_suite'],
                            progress_bar=False, output_dir=tmp_path)
    summary = results.summary
    truth = summary[summary['method'] == 'truth_test_method'][0]
    assert truth['precision'] == 1 and truth['recall'] == 1
    assert truth['AP'] == pytest.approx(1.0)
    assert truth['flux_median_abs_error'] == 0
    sep = summary[summary['method'] == 'sep'][0]
    assert sep['recall'] == 1 and sep['n_true'] == 3
    assert sep['flux_median_abs_error'] < 0.05
    assert np.isnan(sep['flux_conservation'])  # disjoint: not applicable
    assert results.sources['detected'].all()
    assert set(results.images['method']) == {'truth_test_method', 'sep'}
    # time ratios against the other methods of the same run
    ratios = results.timing_ratios
    assert set(ratios.colnames) == {'suite', 'method', 'truth_test_method',
                                    'sep'}
    row = ratios[ratios['method'] == 'sep'][0]
    assert row['sep'] == pytest.approx(1.0)
    assert row['truth_test_method'] == pytest.approx(
        sep['time_median'] / truth['time_median'])
    for name in ('summary.ecsv', 'images.ecsv', 'sources.ecsv',
                 'binned.ecsv', 'timing_ratios.ecsv', 'summary.md',
                 'summary.rst', 'meta.json', 'flux_error_vs_blendedness.png',
                 'example_blend.png'):
        assert (tmp_path / name).exists(), name
    table = Table.read(tmp_path / 'summary.ecsv')
    assert list(table['method']) == list(summary['method'])
    markdown = (tmp_path / 'summary.md').read_text()
    assert '| tiny_test_suite | sep |' in markdown
    rst = (tmp_path / 'summary.rst').read_text()
    assert '=====' in rst
    assert 'flux \\|err\\|' in rst  # not a substitution reference
    try:  # docutils comes with sphinx (docs extra), not the test extra
        import docutils.core
        import docutils.utils
    except ImportError:
        pass
    else:
        with pytest.raises(docutils.utils.SystemMessage, match='x'):
            docutils.core.publish_string(
                '|x|', writer='null', settings_overrides={'halt_level': 2})
        docutils.core.publish_string(rst, writer='null',
                                     settings_overrides={'halt_level': 2})
    with pytest.raises(FileExistsError, match='overwrite'):
        run_benchmark(['sep'], ['tiny_test_suite'], progress_bar=False,
                      output_dir=tmp_path)


def test_missing_method_is_skipped_with_a_warning(registered):
    class Missing(Method):
        name = 'missing_test_method'
        requires = ('no_such_module_xyz',)

    with pytest.warns(OptionalDependencyWarning, match='missing_test_method'):
        results = run_benchmark([Missing(), 'truth_test_method'],
                                ['tiny_test_suite'], progress_bar=False)
    assert list(results.summary['method']) == ['truth_test_method']
    assert 'missing_test_method' in results.meta['skipped']


def test_failing_method_is_recorded(registered):
    class Broken(Method):
        name = 'broken_test_method'

        def run(self, image):
            raise RuntimeError('boom')

    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        results = run_benchmark([Broken()], ['tiny_test_suite'],
                                progress_bar=False)
    assert results.summary['n_failed'][0] == 2
    assert all('boom' in status for status in results.images['status'])


def test_evaluate_output_counts_misses_and_false_positives():
    from photutils.segmentation import SegmentationImage

    from pais_deblend.benchmark.adapters import _catalog

    image = gaussian_scene([(24.0, 16.0), (24.0, 32.0)], [60.0, 15.0])
    label_map = np.zeros(image.shape, dtype=np.int32)
    label_map[20:28, 12:20] = 1
    label_map[0:4, 0:4] = 2
    output = MethodOutput(SegmentationImage(label_map), _catalog(
        [1, 2], [24.2, 1.5], [16.1, 1.5], [55.0, 1.0], [50.0, 1.0]))
    row, sources, masks = evaluate_output(image, output)
    assert (row['n_true_positive'], row['n_false_positive'],
            row['n_false_negative']) == (1, 1, 1)
    assert row['precision'] == 0.5 and row['recall'] == 0.5
    assert [s['detected'] for s in sources] == [True, False]
    assert sources[0]['flux_error'] == pytest.approx(55 / 60 - 1)
    assert sources[0]['flux_segment_error'] == pytest.approx(50 / 60 - 1)
    assert 0 < sources[0]['reconstruction_error'] < 1
    assert np.isnan(sources[1]['flux_error'])
    true_masks, predicted, scores = masks
    assert true_masks.shape[0] == 2 and predicted.shape[0] == 2


def test_measure_method_traces_memory():
    image = gaussian_scene([(24.0, 24.0)], [10.0])

    class Allocating(Method):
        name = 'allocating'

        def run(self, image):
            block = np.ones(4_000_000)  # 32 MB
            return get_method('sep').run(image), block.sum()

    (output, _), wall_time, peak = measure_method(Allocating(), image,
                                                  memory=True)
    assert wall_time > 0
    assert peak >= 32e6
    _, _, untraced = measure_method(Allocating(), image)
    assert np.isnan(untraced)


def test_quick_smoke_cheap_methods(tmp_path):
    # the CI smoke test of the real suites with the fast methods
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        results = run_benchmark(['sep', 'pcr_ceiling'],
                                ['pairs', 'hlf', 'encoding'], quick=True,
                                progress_bar=False, output_dir=tmp_path)
    summary = results.summary
    pairs = summary[summary['suite'] == 'pairs']
    assert set(pairs['method']) == {'sep', 'pcr_ceiling'}
    assert pairs['n_images'][0] == 18
    ceiling = summary[(summary['suite'] == 'encoding')][0]
    assert ceiling['method'] == 'pcr_ceiling'
    assert ceiling['recall'] == 1
    assert ceiling['flux_median_abs_error'] < 1e-3
    assert ceiling['flux_conservation'] < 1e-5
    assert ceiling['ks_pvalue'] > 0.9
    hlf = summary[summary['suite'] == 'hlf']
    assert list(hlf['method']) == ['sep']  # no flux truth: no ceiling
    assert hlf['n_true'][0] == 7 and hlf['recall'][0] > 0.5
    # the separation curve of the fainter member exists for both methods
    binned = results.binned
    fainter = binned[(binned['quantity'] == 'separation')
                     & (binned['subset'] == 'fainter')]
    assert set(fainter['method']) == {'sep', 'pcr_ceiling'}
    assert (tmp_path / 'recall_vs_separation.png').exists()


def test_cli_list_and_run(registered, tmp_path, capsys):
    from pais_deblend.cli import main

    assert main(['benchmark', '--list']) == 0
    out = capsys.readouterr().out
    assert 'sextractor' in out and 'pairs' in out
    assert main(['benchmark', '--methods', 'truth_test_method',
                 '--suites', 'tiny_test_suite', '--output-dir',
                 str(tmp_path), '--no-progress', '--no-figures']) == 0
    out = capsys.readouterr().out
    assert '| tiny_test_suite | truth_test_method |' in out
    assert main(['benchmark', '--methods', 'truth_test_method',
                 '--suites', 'tiny_test_suite', '--output-dir',
                 str(tmp_path), '--no-progress']) == 2
    assert 'overwrite' in capsys.readouterr().err
    assert main(['benchmark', '--suites', 'tiny_test_suite']) == 2
    assert '--output-dir' in capsys.readouterr().err
    assert main(['benchmark', '--methods', 'nope', '--output-dir',
                 str(tmp_path / 'x')]) == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
