"""
The `~pais_deblend.Deblender` decoding options that the benchmark
scripts take on the command line (a ``.keras`` model has no recorded
settings of its own, so these are needed to score it like a bundled
one).
"""

def _threshold_or_off(text):
    """A float, or ``off`` (no residual companion search)."""
    return 'off' if text.lower() in ('off', 'none') else float(text)


#: (option, type, Deblender keyword) of every shared option.
DEBLENDER_OPTIONS = (('--detection-threshold', float, 'detection_threshold'),
                     ('--min-separation', int, 'min_separation'),
                     ('--footprint-threshold', float, 'footprint_threshold'),
                     ('--attribution', str, 'attribution'),
                     ('--companion-threshold', _threshold_or_off,
                      'companion_threshold'))


def add_deblender_options(parser):
    """Add the decoding options to an `argparse.ArgumentParser`."""
    for option, kind, keyword in DEBLENDER_OPTIONS:
        parser.add_argument(option, type=kind, default=None,
                            help=f"the Deblender's {keyword} (default: the "
                            "bundled model's; give it for a .keras model"
                            + ("; 'off' for no search)"
                               if keyword == 'companion_threshold' else ')'))


def deblender_options(args):
    """The Deblender keywords given on the command line."""
    options = {}
    for _, _, keyword in DEBLENDER_OPTIONS:
        value = getattr(args, keyword)
        if value is not None:
            options[keyword] = None if value == 'off' else value
    return options


def warm_up(deblender, image):
    """
    Run ``deblender`` once on the corner of ``image`` that holds 2 x 2
    network tiles with their margins, so that a timed call on ``image``
    finds its tiled path (TensorFlow with XLA under ``runtime='auto'``)
    compiled for the same tile window.
    """
    from pais_deblend.model.inference import default_overlap

    side = deblender.tile_size + 2 * default_overlap(deblender.model)
    deblender(image[:side, :side])
