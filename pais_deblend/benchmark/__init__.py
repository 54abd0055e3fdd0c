"""
Comparison harness: pais_deblend against photutils, sep, SExtractor and
scarlet2 on the same images (:doc:`/comparison`; metric definitions in
:ref:`evaluation-metrics`).

Methods are adapters registered in `METHODS` (`register_method` adds one);
suites are registered in `SUITES` (`register_suite`); `run_benchmark` runs
methods on suites and returns a `BenchmarkResults` whose tables and figures
``results.write(output_dir)`` writes. The command line is ``pais-deblend
benchmark``. See :doc:`/comparison`.

`make_sersic_scene` draws small analytic scenes of Sersic-like sources with
exact per-source truth, for the metrics and the PCR round trip.
"""

from .registry import *  # noqa: F401, F403
from .adapters import *  # noqa: F401, F403
from .suites import *  # noqa: F401, F403
from .run import *  # noqa: F401, F403
from .report import *  # noqa: F401, F403
from .scenes import *  # noqa: F401, F403

__all__ = (registry.__all__ + adapters.__all__ + suites.__all__  # noqa: F405
           + run.__all__ + report.__all__ + scenes.__all__)  # noqa: F405
