"""
``pais-deblend benchmark``: compare deblending methods on benchmark suites
and write the tables and figures.
"""

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'benchmark',
        help='compare pais_deblend with photutils, sep, SExtractor, scarlet2',
        description=('Run deblending methods on benchmark suites (pairs, '
                     'crowded fields, the real HLF cutout, the PCR encoding '
                     'ceiling) in one process on the same images, and write '
                     'ECSV tables, Markdown/RST summaries and figures. '
                     'Methods whose dependency is missing are skipped with '
                     'a warning.'))
    parser.add_argument('--quick', action='store_true',
                        help='small suites (CI smoke test, < 2 minutes)')
    parser.add_argument('--methods', nargs='+', default=None, metavar='METHOD',
                        help='methods to run (default: all default methods; '
                        'see --list)')
    parser.add_argument('--suites', nargs='+', default=None, metavar='SUITE',
                        help='suites to run (default: all)')
    parser.add_argument('--output-dir', default=None,
                        help='directory for the results (required unless '
                        '--list)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace results already in the directory')
    parser.add_argument('--seed', type=int, default=0,
                        help='master seed of the simulated suites '
                        '(default: %(default)s)')
    parser.add_argument('--no-figures', action='store_true',
                        help='write the tables only')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bars')
    parser.add_argument('--list', action='store_true',
                        help='list the methods and suites and exit')
    parser.set_defaults(run=run)
    return parser


def run(args):
    from . import UserError
    from ..benchmark import METHODS, SUITES, run_benchmark

    if args.list:
        print('methods:')
        for name, method in METHODS.items():
            ok, reason = method.available()
            state = 'available' if ok else f'unavailable: {reason}'
            print(f'  {name:15s} {method.description} ({state})')
        print('suites:')
        for name, suite in SUITES.items():
            print(f'  {name:15s} {suite.description}')
        return
    if args.output_dir is None:
        msg = 'the following arguments are required: --output-dir'
        raise UserError(msg)
    results = run_benchmark(
        args.methods, args.suites, quick=args.quick,
        output_dir=args.output_dir, overwrite=args.overwrite,
        progress_bar=not args.no_progress, seed=args.seed,
        figures=not args.no_figures)
    print(results.to_markdown())
    print(f'results written to {args.output_dir}')
