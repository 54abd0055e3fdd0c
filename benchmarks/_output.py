"""
The output convention of the benchmark scripts.

Every ``bench_*.py`` script prints a table to stdout and takes
``--json PATH`` (`add_json_option`), which also writes its figures to
``PATH`` (`write_json`): one JSON object holding the figures, the command
line, the machine and the date. The file is written atomically, under a
temporary name in the same folder that replaces ``PATH`` only once it is
complete, so an interrupted run never leaves a truncated file.

The scripts run as ``python benchmarks/bench_x.py`` and import this
module as a sibling.
"""

import datetime
import json
import math
import os
import platform
import shlex
import sys
import tempfile

import numpy as np

__all__ = ['add_json_option', 'machine', 'write_json']


def add_json_option(parser):
    """Add ``--json PATH`` to an `argparse.ArgumentParser`."""
    parser.add_argument('--json', metavar='PATH', default=None,
                        help='also write the figures, with the command '
                        'line, the machine and the date, to this JSON file')


def machine():
    """The machine the figures come from, as a dict."""
    from pais_deblend.benchmark import cpu_name

    cpu = cpu_name()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {'cpu': cpu, 'cpu_count': os.cpu_count(),
            'platform': platform.platform(),
            'python': platform.python_version(),
            'load_average': load}


def _plain(value):
    """*value* with NumPy scalars and arrays as plain Python, non-finite
    floats as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path, figures, argv=None):
    """
    Write *figures* (a dict or list of the printed numbers) to *path* as
    JSON, with the command line, the machine and the date; nothing when
    *path* is None.
    """
    if path is None:
        return
    argv = sys.argv if argv is None else argv
    record = {'command': shlex.join(['python', *argv]),
              'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec='seconds'),
              'machine': machine(),
              'figures': _plain(figures)}
    path = os.path.abspath(path)
    handle, temporary = tempfile.mkstemp(
        prefix='.' + os.path.basename(path) + '.', suffix='.tmp',
        dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, 'w') as stream:
            json.dump(record, stream, indent=1, default=str)
            stream.write('\n')
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
