"""Conventions of the scripts in ``benchmarks/``, checked on their source
with `ast` (running them is the benchmarks' job, not the tests').

* They use the public API only: no import of a private name or private
  module of pais_deblend (a dotted component with a leading underscore),
  and no edits of ``sys.path``.
* Every ``bench_*.py`` takes ``--json PATH`` through the shared
  ``benchmarks/_output.py``, which writes the figures atomically.
"""

import ast
import importlib.util
import json
import pathlib

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent / 'benchmarks'
SCRIPTS = sorted(BENCHMARKS.glob('*.py')) if BENCHMARKS.is_dir() else []
BENCH_SCRIPTS = [path for path in SCRIPTS if path.name.startswith('bench_')]

pytestmark = pytest.mark.skipif(not SCRIPTS,
                                reason='no benchmarks/ folder (installed)')


def _parse(path):
    return ast.parse(path.read_text(encoding='utf-8'), str(path))


def _is_private(part):
    return part.startswith('_') and not part.startswith('__')


def private_imports(tree):
    """Imports of private pais_deblend names or modules, as messages."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [f'{node.module}.{alias.name}' for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split('.')
            if parts[0] == 'pais_deblend' and any(map(_is_private, parts)):
                found.append(f'line {node.lineno}: {name}')
    return found


def _is_sys_path(node):
    return (isinstance(node, ast.Attribute) and node.attr == 'path'
            and isinstance(node.value, ast.Name) and node.value.id == 'sys')


def sys_path_edits(tree):
    """Calls of ``sys.path`` methods and assignments to it, as messages."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and _is_sys_path(node.func.value)):
            found.append(f'line {node.lineno}: sys.path.{node.func.attr}()')
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AugAssign)
                   else [])
        for target in targets:
            if isinstance(target, ast.Subscript):
                target = target.value
            if _is_sys_path(target):
                found.append(f'line {node.lineno}: assignment to sys.path')
    return found


def has_json_option(tree):
    """Whether the script adds ``--json``: by the shared `add_json_option`
    or by its own ``add_argument('--json', ...)``."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = (node.func.attr if isinstance(node.func, ast.Attribute)
                else getattr(node.func, 'id', None))
        if name == 'add_json_option':
            return True
        if name == 'add_argument' and any(
                isinstance(arg, ast.Constant) and arg.value == '--json'
                for arg in node.args):
            return True
    return False


def test_checks_find_violations():
    tree = ast.parse('import sys\n'
                     'from pais_deblend.pcr._reference import reference_decode\n'
                     'from pais_deblend.pcr import _index\n'
                     'import pais_deblend.utils._io\n'
                     'from pais_deblend.pcr import decode_pcr\n'
                     'sys.path.insert(0, ".")\n'
                     'sys.path[0] = "."\n'
                     'sys.path += ["."]\n')
    assert len(private_imports(tree)) == 3
    assert len(sys_path_edits(tree)) == 3
    assert not has_json_option(tree)
    assert has_json_option(ast.parse("p.add_argument('--json')"))


def test_bench_scripts_found():
    assert len(BENCH_SCRIPTS) >= 10


@pytest.mark.parametrize('path', SCRIPTS, ids=lambda path: path.name)
def test_scripts_use_public_names_only(path):
    tree = _parse(path)
    assert not private_imports(tree), (
        f'{path.name} imports private pais_deblend names: '
        + ', '.join(private_imports(tree)))
    assert not sys_path_edits(tree), (
        f'{path.name} edits sys.path: ' + ', '.join(sys_path_edits(tree)))


@pytest.mark.parametrize('path', BENCH_SCRIPTS, ids=lambda path: path.name)
def test_bench_scripts_take_json(path):
    assert has_json_option(_parse(path)), f'{path.name} has no --json option'


def _output_module():
    spec = importlib.util.spec_from_file_location(
        'benchmarks_output', BENCHMARKS / '_output.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_write_json(tmp_path):
    import argparse

    import numpy as np

    output = _output_module()
    parser = argparse.ArgumentParser()
    output.add_json_option(parser)
    assert '--json PATH' in parser.format_help()
    path = tmp_path / 'figures.json'
    output.write_json(str(path), {'rate': np.float32(2.5), 'n': np.int64(3),
                                  'bad': np.nan, 'rows': np.arange(2),
                                  1.0: (1, 2)},
                      argv=['benchmarks/bench_x.py', '--json', str(path)])
    record = json.loads(path.read_text())
    assert record['figures'] == {'rate': 2.5, 'n': 3, 'bad': None,
                                 'rows': [0, 1], '1.0': [1, 2]}
    assert record['command'].startswith('python benchmarks/bench_x.py --json')
    assert {'cpu', 'cpu_count', 'platform', 'python'} <= set(record['machine'])
    assert record['date']
    assert [p.name for p in tmp_path.iterdir()] == ['figures.json']
    output.write_json(None, {'ignored': 1})


def test_write_json_leaves_no_partial_file(tmp_path):
    output = _output_module()
    path = tmp_path / 'figures.json'
    path.write_text('{"old": true}')

    class Unprintable:
        def __str__(self):
            raise RuntimeError('no text')

    with pytest.raises(RuntimeError, match='no text'):
        output.write_json(str(path), {'first': 1, 'figure': Unprintable()})
    assert json.loads(path.read_text()) == {'old': True}
    assert [p.name for p in tmp_path.iterdir()] == ['figures.json']
