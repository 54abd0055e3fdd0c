"""``python -m pais_deblend`` runs the ``pais-deblend`` command."""

import sys

from .cli import main

if __name__ == '__main__':
    sys.exit(main())
