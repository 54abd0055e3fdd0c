"""
The ``pais-deblend`` command.

Each subcommand lives in its own module of this package, defining
``add_parser(subparsers)`` and ``run(args)``; modules import their heavy
dependencies inside ``run`` so that ``pais-deblend --help`` stays fast.
"""

import argparse
import importlib
import sys

__all__ = ['main']

# subcommand name -> module in this package
SUBCOMMANDS = {
    'run': 'run',
    'example': 'example',
    'simulate': 'simulate',
    'train': 'train',
    'benchmark': 'benchmark',
    'mosaic': 'mosaic',
}


def add_attribution_option(parser):
    """Add ``--attribution`` (the `Deblender` option) to a parser or
    argument group."""
    from ..deblend.pipeline import ATTRIBUTION_METHODS

    parser.add_argument('--attribution', choices=ATTRIBUTION_METHODS,
                        default=None,
                        help='how each footprint pixel\'s flux is shared '
                        'among the detected sources: '
                        + ', '.join(ATTRIBUTION_METHODS)
                        + ' (default: the model\'s own; see the '
                        'Deblender documentation)')


class UserError(Exception):
    """
    An error in what the user asked for: reported in one line, no
    traceback, exit status 2.
    """


def build_parser():
    """
    The argument parser with every subcommand registered.
    """
    from ..version import version

    parser = argparse.ArgumentParser(
        prog='pais-deblend',
        description=('Detect and deblend astronomical sources with partial '
                     'attribution (Hausen & Robertson 2022).'))
    parser.add_argument('--version', action='version',
                        version=f'pais-deblend {version}')
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(f'.{module_name}', __name__)
        module.add_parser(subparsers)
    return parser


def main(argv=None):
    """
    Run the ``pais-deblend`` command; returns the exit status.

    User errors (bad values, missing or existing files) are reported as one
    line on standard error with exit status 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (UserError, ValueError, TypeError, FileExistsError,
            FileNotFoundError, ImportError) as exc:
        print(f'pais-deblend {args.command}: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
