"""
``pais-deblend simulate``: write a simulated training set (model inputs and
PCR labels in ``.npz`` shards, with a manifest).
"""

__all__ = ['add_parser', 'run']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'simulate',
        help='write a simulated training set (images + PCR labels)',
        description=('Simulate blended scenes with GalSim and write the model '
                     'inputs and PCR labels as .npz shards with a '
                     'manifest.json. Resumable: rerunning with the same '
                     'arguments skips the shards already written.'))
    parser.add_argument('--preset', default='hst_f160w',
                        help='instrument preset: hst_f160w, hst_hlf, '
                        'hst_f160w_irregular or ground_grz (default: '
                        '%(default)s)')
    parser.add_argument('--n-scenes', type=int, required=True,
                        help='number of scenes')
    parser.add_argument('--output-dir', required=True,
                        help='directory for the shards and manifest')
    parser.add_argument('--seed', type=int, default=0,
                        help='master seed (default: %(default)s)')
    parser.add_argument('--shape', type=int, nargs=2, default=(256, 256),
                        metavar=('H', 'W'),
                        help='scene shape in pixels (default: 256 256)')
    parser.add_argument('--density', type=float, default=None,
                        help="sources per arcmin^2 (default: the preset's)")
    parser.add_argument('--star-fraction', type=float, default=None,
                        help="fraction of stars (default: the preset's)")
    parser.add_argument('--companion-fraction', type=float, default=None,
                        help='probability that a source gets a close, '
                        'fainter companion (0.5-3 PSF FWHM away, 1-16x '
                        'fainter; default: none)')
    parser.add_argument('--count-slope', type=float, default=None,
                        help='d log10 N / dm of the magnitude distribution '
                        "(> 0; default: the preset's; a smaller slope makes "
                        'bright, large galaxies more common)')
    parser.add_argument('--center-min-snr', type=float, default=None,
                        help='centre-of-mass peaks only for sources of at '
                        'least this matched-filter S/N (default: all)')
    parser.add_argument('--contributor-min-snr', type=float, default=None,
                        help='leave sources below this matched-filter S/N '
                        'out of the labels altogether (default: none left '
                        'out)')
    parser.add_argument('--scenes-per-shard', type=int, default=64,
                        help='scenes per shard (default: %(default)s)')
    parser.add_argument('--n-contributors', type=int, default=3,
                        help='PCR contributors per pixel (default: %(default)s)')
    parser.add_argument('--sigma', type=float, default=8.0,
                        help='width of the centre-of-mass Gaussians, pixels '
                        '(default: %(default)s, the paper\'s)')
    parser.add_argument('--contributor-choice', default='most_flux',
                        choices=('nearest', 'most_flux'),
                        help='how the PCR picks contributors (default: '
                        '%(default)s)')
    parser.add_argument('--label-dtype', default='float16',
                        choices=('float16', 'float32'),
                        help='storage type of the labels (default: %(default)s)')
    parser.add_argument('--workers', type=int, default=1,
                        help='parallel processes (default: %(default)s)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace a different training set in the directory')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.set_defaults(run=run)
    return parser


def _preset(args):
    """The named preset, with ``--count-slope`` applied."""
    if args.count_slope is None:
        return args.preset
    import dataclasses

    from ..simulation import get_preset
    from ..utils._validation import check_finite_float

    slope = check_finite_float(args.count_slope, 'count_slope', minimum=0.0)
    return dataclasses.replace(get_preset(args.preset), count_slope=slope)


def run(args):
    from ..simulation import write_training_set

    manifest = write_training_set(
        args.output_dir, n_scenes=args.n_scenes, preset=_preset(args),
        seed=args.seed, shape=tuple(args.shape), density=args.density,
        scenes_per_shard=args.scenes_per_shard,
        n_contributors=args.n_contributors,
        contributor_choice=args.contributor_choice, sigma=args.sigma,
        label_dtype=args.label_dtype, n_workers=args.workers,
        companion_fraction=args.companion_fraction,
        star_fraction=args.star_fraction,
        center_min_snr=args.center_min_snr,
        contributor_min_snr=args.contributor_min_snr,
        overwrite=args.overwrite, progress_bar_enabled=not args.no_progress)
    print(f"wrote {manifest['n_scenes']} scenes ({manifest['n_sources']} "
          f"sources) in {manifest['n_shards']} shards to {args.output_dir}")
