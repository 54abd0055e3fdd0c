"""
Export the ONNX twins of the bundled models.

Writes ``pais_deblend/model/weights/<name>.onnx`` for every bundled model
(or those named) with `pais_deblend.model.onnx_runtime.export_onnx` and
prints the SHA-256 to record as ``'onnx_sha256'`` in
``pais_deblend/model/bundled.py``. Needs TensorFlow, tf2onnx and onnx
(``pip install tf2onnx onnx``). Run it from the repository root::

    python tools/export_onnx.py [--overwrite] [NAME ...]
"""

import argparse
import os
import sys

# the checkout's package, not an installed one
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from pais_deblend.model.bundled import (_WEIGHTS_DIR,  # noqa: E402
                                        available_models,
                                        load_bundled_model)
from pais_deblend.model.onnx_runtime import export_onnx  # noqa: E402
from pais_deblend.utils._io import file_sha256  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('names', metavar='NAME', nargs='*',
                        help='bundled models (default: all)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace existing .onnx files')
    args = parser.parse_args(argv)
    for name in args.names or available_models():
        path = os.path.join(_WEIGHTS_DIR, f'{name}.onnx')
        export_onnx(load_bundled_model(name), path, overwrite=args.overwrite)
        print(f'{name}: {path} ({os.path.getsize(path)} bytes) '
              f'sha256 {file_sha256(path)}')


if __name__ == '__main__':
    main()
