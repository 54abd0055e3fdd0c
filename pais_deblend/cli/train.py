"""
``pais-deblend train``: train the PAIS network on a training set written by
``pais-deblend simulate`` (resumable; writes ``model.keras`` and
``model_card.json``).
"""

import json

__all__ = ['add_parser', 'run']

#: The choices of ``--architecture`` (``pais_deblend.model.network
#: .ARCHITECTURES``, not imported here: that would import Keras to build
#: the parser).
ARCHITECTURES = ('pais', 'light')


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'train',
        help='train the PAIS network on a simulated training set',
        description=('Train the PAIS network on the .npz shards of a '
                     'training set, checkpointing as it goes; rerunning the '
                     'same command resumes from the last checkpoint. Writes '
                     'model.keras and model_card.json to the output '
                     'directory.'))
    parser.add_argument('dataset_dir', help='training-set directory')
    parser.add_argument('output_dir', help='directory for the model, model '
                        'card and checkpoints')
    parser.add_argument('--steps', type=int, default=1000,
                        help='total optimisation steps (default: %(default)s)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='batch size (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of weights, batches and augmentation '
                        '(default: %(default)s)')
    parser.add_argument('--learning-rate', type=float, default=1e-3,
                        help='Adam learning rate (default: %(default)s)')
    parser.add_argument('--schedule', choices=('constant', 'cosine'),
                        default='constant',
                        help='learning-rate schedule (default: %(default)s)')
    parser.add_argument('--vector-weighting',
                        choices=('uniform', 'contribution'),
                        default='uniform',
                        help='how the C^v loss weights the slots of a pixel '
                        '(default: %(default)s, the paper)')
    parser.add_argument('--slot-matching',
                        choices=('ordered', 'permutation'),
                        default='ordered',
                        help='compare predicted and true slots in their '
                        'order (the paper) or, per pixel, in the '
                        'permutation that fits best (default: %(default)s)')
    parser.add_argument('--no-jit', action='store_true',
                        help='do not compile the training step with XLA')
    parser.add_argument('--normalization', choices=('asinh', 'lupton'),
                        default='asinh',
                        help='input normalisation: per-band asinh stretch, '
                        'or the colour-preserving stretch of the band mean '
                        '(Lupton et al. 2004) (default: %(default)s)')
    parser.add_argument('--source-balance', type=float, default=0.0,
                        help='weight pixels of sources that cover few pixels '
                        'more: exponent of (median area / area), 0 for '
                        'none, 1 for equal weight per source (default: '
                        '%(default)s)')
    parser.add_argument('--crop-size', type=int, default=None,
                        help='train on random square crops of this size')
    parser.add_argument('--validation-dir', default=None,
                        help='held-out training set (default: the last '
                        'shards of DATASET_DIR)')
    parser.add_argument('--validation-fraction', type=float, default=0.1,
                        help='fraction of shards held out without '
                        '--validation-dir (default: %(default)s)')
    parser.add_argument('--validation-samples', type=int, default=256,
                        help='at most this many validation samples '
                        '(default: %(default)s)')
    parser.add_argument('--checkpoint-every', type=int, default=100,
                        help='steps between checkpoints (default: '
                        '%(default)s)')
    parser.add_argument('--architecture', choices=ARCHITECTURES,
                        default='pais',
                        help="network: 'pais' (the paper's) or 'light' "
                        '(stride-2 stem, shared decoder, about a fifth of '
                        'the CPU time) (default: %(default)s)')
    parser.add_argument('--filters', type=int, nargs='+', default=None,
                        help="encoder filters per scale (default: the "
                        "architecture's: 8 16 32 32 for pais, 8 16 32 64 "
                        'for light)')
    parser.add_argument('--attention-window', type=int, default=None,
                        help="attention window (default: the "
                        "architecture's: 5 for pais, 3 for light)")
    parser.add_argument('--classify', action='store_true',
                        help=('add the star/galaxy head (trained on the '
                              "shards' star_probability labels)"))
    parser.add_argument('--preset', default=None,
                        help="preset recorded in the model card (default: "
                        "the training set's)")
    parser.add_argument('--name', default='pais',
                        help='model name in the card (default: %(default)s)')
    parser.add_argument('--no-augment', action='store_true',
                        help='no random flips and rotations')
    parser.add_argument('--initial-model', default=None,
                        help='fine-tune: start from the weights of this '
                        'model (bundled name or .keras file; same '
                        'architecture)')
    parser.add_argument('--teacher', default=None,
                        help='distillation: learn also from the outputs of '
                        'this model (bundled name or .keras file; any '
                        'architecture with the same bands and slots)')
    parser.add_argument('--distillation-weight', type=float, default=0.5,
                        help="the teacher's share of the loss, in [0, 1] "
                        '(with --teacher; default: %(default)s)')
    parser.add_argument('--entropy-weight', type=float, default=None,
                        help='weight of the entropy term of the loss '
                        '(default: 2, the paper\'s; 0 leaves the '
                        'contribution maps unsharpened)')
    parser.add_argument('--center-of-mass-weight', type=float, default=None,
                        help='weight of the C^c term of the loss (default: '
                        '15, the paper\'s; raise it when other heads share '
                        'the spatial decoder and the centre map stays flat)')
    parser.add_argument('--contribution-vectors-weight', type=float,
                        default=None,
                        help='weight of the C^v term of the loss (default: '
                        '0.06, the paper\'s)')
    parser.add_argument('--star-probability-weight', type=float,
                        default=None,
                        help='weight of the star/galaxy term of the loss '
                        '(default: 2; with --classify)')
    parser.add_argument('--restart', action='store_true',
                        help='ignore an existing checkpoint and start afresh')
    parser.add_argument('--no-progress', action='store_true',
                        help='hide the progress bar')
    parser.set_defaults(run=run)
    return parser


def _loss_weights(args):
    weights = {'vector_weighting': args.vector_weighting}
    if args.slot_matching != 'ordered':
        weights['slot_matching'] = args.slot_matching
    if args.entropy_weight is not None:
        weights['entropy_weight'] = args.entropy_weight
    if args.center_of_mass_weight is not None:
        weights['center_of_mass_weight'] = args.center_of_mass_weight
    if args.contribution_vectors_weight is not None:
        weights['contribution_vectors_weight'] = (
            args.contribution_vectors_weight)
    if args.star_probability_weight is not None:
        weights['star_probability_weight'] = args.star_probability_weight
    return weights


def run(args):
    from ..model import train

    model_options = {}
    if args.architecture != 'pais':
        # only when not the default, so that checkpoints and model cards
        # of the default network keep their options
        model_options['architecture'] = args.architecture
    if args.filters is not None:
        model_options['filters'] = list(args.filters)
    if args.attention_window is not None:
        model_options['attention_window'] = args.attention_window
    if args.classify:
        model_options['classify'] = True
    card = train(
        args.dataset_dir, args.output_dir, steps=args.steps,
        batch_size=args.batch_size, seed=args.seed,
        validation_dir=args.validation_dir,
        validation_fraction=args.validation_fraction,
        validation_samples=args.validation_samples,
        checkpoint_every=args.checkpoint_every, resume=not args.restart,
        progress_bar=not args.no_progress,
        learning_rate=args.learning_rate, crop_size=args.crop_size,
        augment=not args.no_augment, model_options=model_options or None,
        loss_weights=_loss_weights(args),
        preset=args.preset, name=args.name, schedule=args.schedule,
        jit_compile=not args.no_jit, initial_model=args.initial_model,
        normalization=args.normalization,
        source_balance=args.source_balance, teacher=args.teacher,
        distillation_weight=args.distillation_weight)
    metrics = json.dumps({k: round(v, 5) for k, v in
                          card['validation']['metrics'].items()})
    print(f"trained {card['training']['steps']} steps in "
          f"{card['training']['wall_time_s']:.1f} s; validation {metrics}; "
          f"wrote {args.output_dir}/model.keras and model_card.json")
