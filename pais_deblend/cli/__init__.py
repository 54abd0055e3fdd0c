"""
The ``pais-deblend`` command.

Each subcommand lives in its own module of this package, defining
``add_parser(subparsers)`` and ``run(args)``; modules import their heavy
dependencies inside ``run`` so that ``pais-deblend --help`` stays fast.
"""

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading

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


def add_companion_option(parser):
    """Add ``--companion-threshold`` (the `Deblender` option)."""
    parser.add_argument('--companion-threshold', metavar='SNR', type=float,
                        default=None,
                        help='look for sources the network missed in the '
                        'residual of the symmetric templates, above SNR '
                        'times the smoothed noise (default: the model\'s '
                        'own setting)')
    parser.add_argument('--no-companion-search', action='store_true',
                        help='no residual companion search')


def companion_threshold(args):
    """The ``companion_threshold`` keyword of the command line's
    options."""
    from ..deblend.core import MODEL_DEFAULT

    if args.no_companion_search:
        return None
    if args.companion_threshold is None:
        return MODEL_DEFAULT
    return args.companion_threshold


class UserError(Exception):
    """
    An error in what the user asked for: reported in one line, no
    traceback, exit status 2.
    """


class Terminated(SystemExit):
    """
    Raised by the SIGTERM handler of `main`: unwinds like ``sys.exit``, so
    that ``finally`` blocks remove the temporaries of unfinished outputs.
    """


# the commands that load the network, hence TensorFlow
#: Commands that always run TensorFlow (training; mosaics run their
#: tiles on it): it is imported, silently, before they start.
_TENSORFLOW_COMMANDS = {'train', 'mosaic'}

#: Commands whose images may run on the ONNX twin: TensorFlow is
#: imported, silently, only for an image that needs it
#: (`before_network`).
_NETWORK_COMMANDS = {'run', 'example'}

# whether this process hides TensorFlow's messages (set by `main`)
_QUIET = {'tensorflow': False}

_VERBOSE_HELP = ('show the log messages of TensorFlow (hidden by default '
                 'unless TF_CPP_MIN_LOG_LEVEL is set)')


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
    parser.add_argument('-v', '--verbose', action='store_true',
                        help=_VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND')
    subparsers.required = True
    for module_name in SUBCOMMANDS.values():
        module = importlib.import_module(f'.{module_name}', __name__)
        subparser = module.add_parser(subparsers)
        # also after the command; SUPPRESS keeps a --verbose given before it
        subparser.add_argument('-v', '--verbose', action='store_true',
                               default=argparse.SUPPRESS,
                               help=_VERBOSE_HELP)
    return parser


def quiet_tensorflow(verbose=False):
    """
    Hide TensorFlow's log messages unless ``verbose``.

    TensorFlow's C++ core logs a few lines at import and at its first
    graph (CUDA probing, "failed call to cuInit" on a machine without a
    GPU, CPU instruction sets, XLA); its level is read from
    ``TF_CPP_MIN_LOG_LEVEL`` when TensorFlow is imported, so this must run
    before. Level 3 is needed for the "cuInit" line, an ERROR that is no
    error for a CPU run; real failures still surface as Python
    exceptions. A ``TF_CPP_MIN_LOG_LEVEL`` set by the user is kept, with
    or without ``verbose``. Returns whether it hid the messages.
    """
    if verbose or 'TF_CPP_MIN_LOG_LEVEL' in os.environ:
        return False
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'
    # the Python side of TensorFlow logs through the 'tensorflow' logger
    logger = logging.getLogger('tensorflow')
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)
    return True


def _import_tensorflow_silently():
    """
    Import TensorFlow with the standard error file descriptor sent to
    ``os.devnull``: each of its C++ libraries logs a line or two while it
    loads, before ``TF_CPP_MIN_LOG_LEVEL`` applies ("All log messages
    before absl::InitializeLog() ..."). A failed import is left to the
    code that needs TensorFlow, which reports it.
    """
    if 'tensorflow' in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), 2)
            with contextlib.suppress(ImportError):
                import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def before_network(deblender, shape):
    """
    Import TensorFlow silently (`_import_tensorflow_silently`) before
    ``deblender`` runs on an image of ``shape``, when that image runs on
    TensorFlow and `main` hides its messages; an image that runs on the
    ONNX twin does not pay for the import (several seconds).
    """
    if _QUIET['tensorflow'] and deblender.uses_tensorflow(shape):
        _import_tensorflow_silently()


def _runs_onnx(args):
    """Whether the command runs its network on ONNX Runtime, which needs
    no TensorFlow (importing it would cost the seconds saved)."""
    model = getattr(args, 'model', None)
    return (getattr(args, 'runtime', 'tensorflow') == 'onnx'
            or (isinstance(model, str) and model.endswith('.onnx')))


def _raise_terminated(signum, frame):
    raise Terminated(128 + signum)


@contextlib.contextmanager
def _sigterm_unwinds():
    """Within the block, SIGTERM raises `Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv=None):
    """
    Run the ``pais-deblend`` command; returns the exit status.

    User errors (bad values, missing or existing files) are reported as one
    line on standard error with exit status 2. Ctrl-C prints
    "interrupted" and returns 130, SIGTERM "terminated" and 143; the
    temporaries of outputs not yet complete are removed on the way out.
    TensorFlow's log messages are hidden unless ``--verbose`` is given
    (`quiet_tensorflow`).
    """
    from ..utils._progress import close_progress_bars

    parser = build_parser()
    args = parser.parse_args(argv)
    _QUIET['tensorflow'] = quiet_tensorflow(args.verbose)
    if (_QUIET['tensorflow'] and args.command in _TENSORFLOW_COMMANDS
            and not _runs_onnx(args)):
        _import_tensorflow_silently()
    prefix = f'pais-deblend {args.command}'
    message, status = None, 0
    try:
        with _sigterm_unwinds():
            args.run(args)
    except (UserError, ValueError, TypeError, OSError,
            ImportError) as exc:
        message, status = f'{prefix}: error: {exc}', 2
    except KeyboardInterrupt:
        message, status = f'{prefix}: interrupted', 130
    except Terminated as exc:
        message, status = f'{prefix}: terminated', exc.code
    finally:
        # a bar left open by the exception would run into the message
        close_progress_bars()
    if message is not None:
        sys.stdout.flush()
        print(message, file=sys.stderr)
    return status


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
