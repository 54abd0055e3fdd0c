"""Tests of the pais-deblend command line and the example job."""

import numpy as np
import pytest
from astropy.table import Table

from pais_deblend.cli import main
from pais_deblend.segmentation import PartialSegmentationImage


@pytest.fixture(scope='module')
def example_outputs(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp('example')
    status = main(['example', '--output-dir', str(output_dir),
                   '--no-progress'])
    return status, output_dir


def test_example_writes_its_outputs(example_outputs):
    status, output_dir = example_outputs
    assert status == 0
    partial = PartialSegmentationImage.read(output_dir / 'hlf_goodss_partial.fits')
    catalog = Table.read(output_dir / 'hlf_goodss_catalog.ecsv')
    # the bright catalog sources are found (see test_deblend_bundled)
    matched = catalog['catalog_index'][catalog['catalog_index'] >= 0]
    assert {1, 2, 4, 6} <= set(matched.tolist())
    assert set(partial.centers) == set(catalog['label'].tolist())
    assert {'segment_flux', 'x_centroid', 'r90', 'blendedness'} <= set(
        catalog.colnames)
    png = (output_dir / 'hlf_goodss_overview.png').read_bytes()
    assert png.startswith(b'\x89PNG')


def test_example_catalog_units_kron_and_magnitudes(example_outputs):
    from astropy import units as u
    from astropy.table import QTable

    from pais_deblend.cli.example import F160W_ZERO_POINT

    _, output_dir = example_outputs
    table = QTable.read(output_dir / 'hlf_goodss_catalog.ecsv')
    for name in ('segment_flux', 'kron_flux'):
        assert table[name].unit == u.electron / u.s, name
    # photutils gives 2.05-2.34 for the faint sources of these segments
    assert np.nanmax(table['kron_radius'].value) > 2.0
    bright = table['segment_flux'].value > 0
    np.testing.assert_allclose(
        table['segment_mag'].value[bright],
        F160W_ZERO_POINT - 2.5 * np.log10(table['segment_flux'].value[bright]))


def test_example_figure_marks_shared_pixels(tmp_path):
    from astropy.table import QTable

    from pais_deblend.cli.example import _shared_pixels, _write_figure
    from pais_deblend.segmentation import PartialSourceCatalog

    # two sources sharing a column of pixels
    contributors = np.zeros((40, 40, 2), dtype=np.int32)
    weights = np.zeros((40, 40, 2), dtype=np.float32)
    contributors[10:30, 5:20, 0], weights[10:30, 5:20, 0] = 1, 1.0
    contributors[10:30, 20:35, 0], weights[10:30, 20:35, 0] = 2, 1.0
    contributors[10:30, 19:21] = (1, 2)
    weights[10:30, 19:21] = (0.6, 0.4)
    partial = PartialSegmentationImage(contributors, weights,
                                       centers={1: (20.0, 12.0),
                                                2: (20.0, 27.0)})
    assert _shared_pixels(partial).sum() == 40
    image = np.random.default_rng(0).normal(1.0, 0.1, (40, 40))
    table = QTable(PartialSourceCatalog(image, partial).to_table())
    path = tmp_path / 'figure.png'
    _write_figure(partial, image, table, path, False)
    assert path.read_bytes().startswith(b'\x89PNG')


def test_example_conserves_flux(example_outputs):
    from pais_deblend.datasets import load_hlf_goodss
    from pais_deblend.evaluation import flux_conservation

    _, output_dir = example_outputs
    partial = PartialSegmentationImage.read(output_dir / 'hlf_goodss_partial.fits')
    image = load_hlf_goodss().flux[..., 0].astype(np.float64)
    assert flux_conservation(partial, image) <= 1e-6


def test_example_never_overwrites_silently(example_outputs, capsys):
    _, output_dir = example_outputs
    path = output_dir / 'hlf_goodss_catalog.ecsv'
    before = path.read_bytes()
    status = main(['example', '--output-dir', str(output_dir)])
    assert status == 2
    error = capsys.readouterr().err
    assert 'already exists' in error and '--overwrite' in error
    assert len(error.strip().splitlines()) == 1
    assert path.read_bytes() == before


def test_unknown_command_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(['no-such-command'])
    assert info.value.code == 2
    assert 'invalid choice' in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(['--version'])
    assert info.value.code == 0
    assert 'pais-deblend' in capsys.readouterr().out
