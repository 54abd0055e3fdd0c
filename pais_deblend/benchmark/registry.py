"""
The method registry of the comparison harness: what a deblending method
receives (`BenchmarkImage`), what it returns (`MethodOutput`), the `Method`
base class and `register_method`.

Adding a method is one call::

    from pais_deblend.benchmark import Method, register_method

    class MyMethod(Method):
        name = 'my_method'
        description = 'what it is'
        requires = ('some_module',)  # optional dependencies, imported lazily

        def run(self, image):
            ...  # -> MethodOutput(segmentation, catalog)

    register_method(MyMethod())

and the method then appears in `available_methods`, in ``run_benchmark`` and
in ``pais-deblend benchmark --methods``.
"""

import importlib.util
import math
import shutil
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

__all__ = ['BenchmarkImage', 'MethodOutput', 'Method', 'METHODS',
           'register_method', 'get_method', 'available_methods',
           'CATALOG_COLUMNS', 'BLENDEDNESS_BINS']

#: Columns every method catalog has (extra columns are allowed).
CATALOG_COLUMNS = ('label', 'y', 'x', 'flux', 'flux_segment')

#: Blendedness bin edges of the binned flux-error tables.
BLENDEDNESS_BINS = (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class BenchmarkImage:
    """
    One image of a benchmark suite, with whatever truth is known.

    Attributes
    ----------
    name : str
        Unique identifier within the suite (e.g. ``'pairs-s1.00-r4-k0'``).
    data : `~numpy.ndarray`
        The (h, w) float32 background-subtracted image every method deblends.
    psf_fwhm : float
        PSF FWHM in pixels (sets filter kernels and the matching radius).
    noise_sigma : float
        Per-pixel background noise standard deviation, image units.
    true_centers : `~numpy.ndarray` or None
        (N, 2) true (y, x) centres (for ``hlf``: the catalog positions);
        None if unknown.
    true_source_images : list of `~pais_deblend.segmentation.SourceCutout` or None
        The noiseless per-source images S_i in the order of
        ``true_centers``; None if unknown (no flux truth).
    in_frame : `~numpy.ndarray` or None
        (N,) bool, whether each true centre lies inside the frame (only
        these are detection truth).
    meta : dict
        Per-image parameters copied into the result rows (e.g.
        ``separation``, ``flux_ratio``, ``density``, ``realisation``).
    match_radius : float or None
        Detection matching radius in pixels (default: ``psf_fwhm``).
    noiseless : bool
        Whether ``data`` has no noise (the ``encoding`` suite).
    psf : `~numpy.ndarray` or None
        The (s, s) observed (pixel-convolved) PSF image with odd s, when
        known (used by scarlet2); else methods use a Gaussian of
        ``psf_fwhm``.
    """

    name: str
    data: np.ndarray
    psf_fwhm: float
    noise_sigma: float
    true_centers: np.ndarray = None
    true_source_images: list = None
    in_frame: np.ndarray = None
    meta: dict = field(default_factory=dict)
    match_radius: float = None
    noiseless: bool = False
    psf: np.ndarray = None

    @property
    def shape(self):
        """The (h, w) frame shape."""
        return self.data.shape[:2]

    @property
    def has_flux_truth(self):
        """Whether the per-source images S_i are known."""
        return self.true_source_images is not None

    @property
    def has_position_truth(self):
        """Whether the source positions are known."""
        return self.true_centers is not None

    def true_fluxes(self):
        """
        The (N,) true in-frame fluxes (sum of each S_i), or None.
        """
        if self.true_source_images is None:
            return None
        return np.array([float(np.sum(c.data, dtype=np.float64))
                         for c in self.true_source_images])


@dataclass
class MethodOutput:
    """
    What every method adapter returns.

    Attributes
    ----------
    segmentation : `~photutils.segmentation.SegmentationImage` or `PartialSegmentationImage`
        The attribution: disjoint (each pixel to at most one label) or
        partial. Label l is catalog row with ``label == l``.
    catalog : `~astropy.table.Table`
        One row per detected source with at least `CATALOG_COLUMNS`:
        ``label`` (int), ``y``, ``x`` (pixel centroid, 0-based, numpy
        order), ``flux`` (the method's own total-flux estimate: Kron /
        ``FLUX_AUTO`` for the detection codes, the model flux for scarlet2,
        sum of M_i I for the PCR ceiling) and ``flux_segment`` (the flux
        attributed by the segmentation, sum of M_i I over the frame, with
        M_i the 0/1 segment mask for disjoint methods).
    source_images : dict or None
        Optional {label: SourceCutout} of the method's own source models
        (scarlet2's rendered models); when None the reconstruction is
        ``M_i * data``.
    meta : dict
        Free-form details (e.g. the settings used).
    """

    segmentation: object
    catalog: Table
    source_images: dict = None
    meta: dict = field(default_factory=dict)

    @property
    def is_partial(self):
        """Whether the segmentation is partial (has per-pixel weights)."""
        return hasattr(self.segmentation, 'weights')

    @property
    def n_sources(self):
        """The number of catalog rows."""
        return len(self.catalog)

    @property
    def positions(self):
        """(K, 2) float64 (y, x) positions of the catalog."""
        if len(self.catalog) == 0:
            return np.zeros((0, 2))
        return np.column_stack([np.asarray(self.catalog['y'], float),
                                np.asarray(self.catalog['x'], float)])


class Method:
    """
    Base class of a benchmark method adapter.

    Subclasses set the class attributes and implement `run`; everything
    heavy is imported inside `run`.

    Attributes
    ----------
    name : str
        Registry key (lower case, no spaces).
    description : str
        One line for tables and ``--help``.
    requires : tuple of str
        Importable modules the method needs (checked by `available`).
    programs : tuple of tuple of str
        External programs the method needs: each entry lists alternative
        executable names, one of which must be on ``PATH``.
    needs_true_centers : bool
        The method uses the true positions (an oracle): it is skipped on
        images without them.
    needs_true_images : bool
        The method uses the true per-source images (a ceiling): it is
        skipped on images without them.
    partial : bool
        Whether the method returns a partial segmentation.
    quick_max_images : int or None
        In quick mode, run on at most this many images per suite (evenly
        spread over the suite); for slow methods.
    quick_suites : tuple of str or None
        In quick mode, run only on these suites (None: all); for methods
        whose per-image-shape compilation dominates a quick run.
    default : bool
        Whether ``run_benchmark`` runs it when no methods are named.
    """

    name = None
    description = ''
    requires = ()
    programs = ()
    needs_true_centers = False
    needs_true_images = False
    partial = False
    default = True
    quick_max_images = None
    quick_suites = None

    def __repr__(self):
        return f'<{type(self).__name__} {self.name!r}>'

    def available(self):
        """
        Whether the method can run here.

        Returns
        -------
        ok : bool
        reason : str
            Empty when ``ok``; else what is missing and how to install it.
        """
        for module in self.requires:
            if importlib.util.find_spec(module) is None:
                return False, (f'the Python module {module!r} is not '
                               'installed')
        for alternatives in self.programs:
            if not any(shutil.which(p) for p in alternatives):
                return False, ('the program ' + ' / '.join(
                    repr(p) for p in alternatives) + ' is not on PATH')
        return True, ''

    def applicable(self, image):
        """
        Whether the method can run on ``image`` (oracles need truth).
        """
        if self.needs_true_centers and not image.has_position_truth:
            return False
        if self.needs_true_images and not image.has_flux_truth:
            return False
        return True

    def configure(self, *, quick=False):
        """
        Hook called once per run before the first image (e.g. to use fewer
        optimiser iterations in quick mode). The default does nothing.
        """

    def run(self, image):
        """
        Deblend one image.

        Parameters
        ----------
        image : `BenchmarkImage`

        Returns
        -------
        output : `MethodOutput`
        """
        raise NotImplementedError


#: The registered methods, name -> `Method` instance (in registration order).
METHODS = {}


def register_method(method, *, overwrite=False):
    """
    Add a method adapter to the registry.

    Parameters
    ----------
    method : `Method`
        An instance with a unique ``name``.
    overwrite : bool, optional
        Replace an existing method of the same name.

    Returns
    -------
    method : `Method`
        The argument (so that this can be used as a one-liner).
    """
    if not isinstance(method, Method):
        msg = f'method must be a Method instance, got {type(method).__name__}'
        raise TypeError(msg)
    name = method.name
    if not isinstance(name, str) or not name or name != name.strip() \
            or ' ' in name:
        msg = f'method.name must be a non-empty string without spaces, got {name!r}'
        raise ValueError(msg)
    if name in METHODS and not overwrite:
        msg = (f'a method named {name!r} is already registered; pass '
               'overwrite=True to replace it')
        raise ValueError(msg)
    METHODS[name] = method
    return method


def lookup_registered(registry, name, base, kind):
    """
    ``name`` itself if it is a ``base`` instance, else the entry of
    ``registry`` called ``name``; `ValueError` naming the ``kind`` and the
    choices otherwise (shared by `get_method` and ``get_suite``).
    """
    if isinstance(name, base):
        return name
    if name not in registry:
        choices = ', '.join(repr(n) for n in registry)
        msg = f'unknown {kind} {name!r}; {kind}s must be among {choices}'
        raise ValueError(msg)
    return registry[name]


def get_method(name):
    """
    Return the registered `Method` called ``name``.
    """
    return lookup_registered(METHODS, name, Method, 'method')


def available_methods(*, only_available=False):
    """
    Names of the registered methods.

    Parameters
    ----------
    only_available : bool, optional
        Keep only methods whose dependencies are installed.

    Returns
    -------
    names : list of str
    """
    return [name for name, method in METHODS.items()
            if not only_available or method.available()[0]]


def empty_catalog():
    """A method catalog with no row."""
    return Table(names=CATALOG_COLUMNS,
                 dtype=(np.int64, float, float, float, float))


def segment_fluxes(segmentation, data, labels):
    """
    Sum of ``data`` over each label's segment (disjoint) or of M_l * data
    (partial), for the given labels.
    """
    data = np.asarray(data, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if hasattr(segmentation, 'weights'):
        contributors = np.asarray(segmentation.contributors)
        weights = np.asarray(segmentation.weights, dtype=np.float64)
        weighted = weights * data[..., None]
        size = int(max(contributors.max(initial=0), labels.max(initial=0))) + 1
        sums = np.bincount(contributors.ravel(), weights=weighted.ravel(),
                           minlength=size)
    else:
        label_map = np.asarray(segmentation.data)
        size = int(max(label_map.max(initial=0), labels.max(initial=0))) + 1
        sums = np.bincount(label_map.ravel(), weights=data.ravel(),
                           minlength=size)
    return sums[labels]


def gaussian_kernel(fwhm, *, size=None):
    """
    A normalised (h, h) Gaussian filter kernel of the given FWHM (pixels),
    sampled at pixel centres; ``size`` odd (default about 2 FWHM, >= 3).
    """
    if size is None:
        size = max(3, 2 * int(math.ceil(fwhm)) + 1)
    sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
    offsets = np.arange(size) - size // 2
    profile = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = np.outer(profile, profile)
    return kernel / kernel.sum()
