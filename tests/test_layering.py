"""Layering rules of the package, checked on its source with `ast`.

* No subpackage imports a private name (leading underscore) from another
  subpackage.  The private *modules* of ``pais_deblend.utils`` hold helpers
  for the whole package: their public names may be imported anywhere.
* The subpackages do not import each other in a cycle at module level.
  Imports inside functions are lazy by design and are not counted.
* The metrics sit below the harness and the simulation:
  ``pais_deblend.evaluation`` imports neither ``pais_deblend.benchmark`` nor
  ``pais_deblend.simulation``, not even inside functions.
* No function is longer than `MAX_FUNCTION_LINES` lines, its docstring
  not counted (a public function documents every parameter there), except
  the numba kernels.
"""

import ast
import functools
import pathlib

import pais_deblend

PACKAGE = 'pais_deblend'
PACKAGE_DIR = pathlib.Path(pais_deblend.__file__).parent
ROOT = '<root>'
SHARED_SUBPACKAGE = 'utils'

MAX_FUNCTION_LINES = 120

# Subpackage imports that are never allowed, lazy ones included, as
# (importer, imported).
FORBIDDEN_IMPORTS = frozenset({
    ('evaluation', 'benchmark'),
    ('evaluation', 'simulation'),
})



def _module_name(path):
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def _modules():
    """Map every module name of the package to its parsed source."""
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob('*.py')):
        source = path.read_text(encoding='utf-8')
        modules[_module_name(path)] = (path, ast.parse(source, str(path)))
    return modules


MODULES = _modules()


def _is_package(name):
    return (PACKAGE_DIR.parent / name.replace('.', '/') / '__init__.py').exists()


def _subpackage(name):
    """The first component under the package, `ROOT` for the package itself."""
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else ROOT


def _resolve(importer, node):
    """The absolute module name that an ``ImportFrom`` node imports from."""
    if not node.level:
        return node.module
    base = importer.split('.')
    if not _is_package(importer):
        base.pop()
    base = base[:len(base) - node.level + 1]
    return '.'.join(base + ([node.module] if node.module else []))


def _is_type_checking(node):
    test = node.test
    return ((isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING')
            or (isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING'))


def _imports(tree, module_level_only):
    """Yield the import nodes of a module, with the line of each.

    With *module_level_only*, skip the bodies of functions (run lazily) and
    of ``if TYPE_CHECKING:`` blocks (never run); class bodies run at import.
    """
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if module_level_only:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.If) and _is_type_checking(node):
                stack.extend(node.orelse)
                continue
        stack.extend(ast.iter_child_nodes(node))


def _imported_modules(importer, node):
    """Yield ``(module, name)`` for each name a package import brings in.

    *name* is the imported attribute for ``from module import name`` and
    `None` for ``import module``.  A name that is itself a submodule is
    reported as that submodule, with `None`.
    """
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split('.')[0] == PACKAGE:
                yield alias.name, None
        return
    module = _resolve(importer, node)
    if module is None or module.split('.')[0] != PACKAGE:
        return
    for alias in node.names:
        submodule = f'{module}.{alias.name}'
        if submodule in MODULES:
            yield submodule, None
        else:
            yield module, alias.name


def _is_private(part):
    return part.startswith('_') and not part.startswith('__')


def private_imports():
    """Imports of a private name of another subpackage, as messages."""
    violations = []
    for importer, (path, tree) in MODULES.items():
        for node in _imports(tree, module_level_only=False):
            for module, name in _imported_modules(importer, node):
                target = _subpackage(module)
                if target == _subpackage(importer):
                    continue
                private_modules = [part for part in module.split('.')[2:]
                                   if _is_private(part)]
                if ((name is not None and _is_private(name))
                        or (private_modules and target != SHARED_SUBPACKAGE)):
                    what = f'{module}.{name}' if name else module
                    violations.append(f'{path.relative_to(PACKAGE_DIR)}:'
                                      f'{node.lineno}: {importer} imports {what}')
    return violations


def subpackage_graph(module_level_only=True):
    """Map ``(importer, imported)`` subpackage edges to an example import."""
    edges = {}
    for importer, (path, tree) in MODULES.items():
        source = _subpackage(importer)
        for node in _imports(tree, module_level_only):
            for module, _ in _imported_modules(importer, node):
                target = _subpackage(module)
                if target not in (source, ROOT) and source != ROOT:
                    edges.setdefault(
                        (source, target),
                        f'{path.relative_to(PACKAGE_DIR)}:{node.lineno}')
    return edges


def find_cycles(edges):
    """The cycles of a directed graph, each once, as lists of nodes."""
    graph = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)
    cycles = []

    def visit(start, node, path):
        for target in sorted(graph.get(node, ())):
            if target == start:
                cycles.append(path + [start])
            elif target not in path and target > start:
                visit(start, target, path + [target])

    for start in sorted(graph):
        visit(start, start, [start])
    return cycles


def _describe_cycle(cycle, edges):
    return ' -> '.join(cycle) + ' (' + ', '.join(
        f'{a}->{b} at {edges[a, b]}' for a, b in zip(cycle, cycle[1:])) + ')'


@functools.lru_cache
def _code_lines(function):
    """The lines of ``function``, its docstring left out."""
    length = function.end_lineno - function.lineno + 1
    first = function.body[0]
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        length -= first.end_lineno - first.lineno + 1
    return length


def long_functions():
    """Map functions over `MAX_FUNCTION_LINES` lines of code to their
    length."""
    found = {}

    def is_numba_kernel(function):
        for decorator in function.decorator_list:
            if isinstance(decorator, ast.Call):
                decorator = decorator.func
            name = (decorator.attr if isinstance(decorator, ast.Attribute)
                    else getattr(decorator, 'id', ''))
            if name in ('njit', 'jit'):
                return True
        return False

    def visit(node, path, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                  ast.ClassDef)):
                qualname = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    length = _code_lines(child)
                    if length > MAX_FUNCTION_LINES and not is_numba_kernel(child):
                        found[f'{path}:{qualname}'] = length
                visit(child, path, qualname + '.')
            else:
                visit(child, path, prefix)

    for path, tree in MODULES.values():
        visit(tree, path.relative_to(PACKAGE_DIR).as_posix(), '')
    return found


def test_modules_found():
    assert {'pais_deblend.segmentation.catalog',
            'pais_deblend.benchmark.run',
            'pais_deblend.utils._validation'} <= set(MODULES)


def test_resolve_relative_imports():
    node = ast.parse('from ..utils._validation import as_image').body[0]
    assert _resolve('pais_deblend.pcr.encode', node) == 'pais_deblend.utils._validation'
    node = ast.parse('from . import _index').body[0]
    assert _resolve('pais_deblend.pcr', node) == 'pais_deblend.pcr'
    assert list(_imported_modules('pais_deblend.pcr', node)) == [
        ('pais_deblend.pcr._index', None)]


def test_find_cycles():
    edges = {('a', 'b'): '', ('b', 'c'): '', ('c', 'a'): '', ('c', 'd'): ''}
    assert find_cycles(edges) == [['a', 'b', 'c', 'a']]
    assert find_cycles({('a', 'b'): ''}) == []


def test_no_private_imports_across_subpackages():
    violations = private_imports()
    assert not violations, ('private names imported across subpackages:\n'
                            + '\n'.join(violations))


def test_no_module_level_cycles_between_subpackages():
    edges = subpackage_graph(module_level_only=True)
    cycles = find_cycles(edges)
    assert not cycles, ('module-level import cycles between subpackages:\n'
                        + '\n'.join(_describe_cycle(c, edges) for c in cycles))


def test_no_forbidden_imports_between_subpackages():
    edges = subpackage_graph(module_level_only=False)
    found = sorted(f'{a} imports {b} at {edges[a, b]}'
                   for a, b in FORBIDDEN_IMPORTS if (a, b) in edges)
    assert not found, 'forbidden imports:\n' + '\n'.join(found)


def test_no_long_functions():
    found = sorted(f'{name} ({length} lines)'
                   for name, length in long_functions().items())
    assert not found, (f'functions over {MAX_FUNCTION_LINES} lines; split '
                       'them into named helpers:\n' + '\n'.join(found))


def test_code_lines_leave_out_the_docstring():
    source = ('def f(a,\n      b):\n    """One.\n\n    Two.\n    """\n'
              '    x = a\n    return x + b\n')
    function = ast.parse(source).body[0]
    assert _code_lines(function) == 4
    bare = ast.parse('def g():\n    return 1\n').body[0]
    assert _code_lines(bare) == 2
