"""
Lazy public names for a package's ``__init__`` (PEP 562), so that
importing the package stays fast and free of heavy dependencies.
"""

import importlib

__all__ = ['lazy_loader']


def lazy_loader(package, namespace, names, *, before_import=None):
    """
    Make the module-level ``__getattr__`` and ``__dir__`` of a package.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    namespace : dict
        The package's ``globals()``; a loaded name is cached there.
    names : dict
        Public name -> the submodule (relative to ``package``) defining it.
    before_import : callable, optional
        Called with the submodule name before it is first imported (e.g.
        to check an optional dependency with a clear message).

    Returns
    -------
    getattr_, dir_ : callable
    """
    def getattr_(name):
        if name in names:
            module_name = names[name]
            if before_import is not None:
                before_import(module_name)
            module = importlib.import_module(f'.{module_name}', package)
            value = getattr(module, name)
            namespace[name] = value
            return value
        msg = f'module {package!r} has no attribute {name!r}'
        raise AttributeError(msg)

    def dir_():
        return sorted(set(namespace) | set(names))

    return getattr_, dir_
