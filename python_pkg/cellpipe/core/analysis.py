"""Which names a piece of notebook code reads, binds and changes in place.

Pure: source text in, :class:`CodeFacts` out. IPython syntax (magics, ``!``
lines, ``?`` help) is first rewritten with IPython's own input transformer, so
valid notebook code never fails to parse. The body of ``%%time``-like magics,
which run Python code in the user namespace, is analyzed as code.

What counts as changing a name in place (making a step its producer) is
documented on :data:`READ_ONLY_METHODS` and :data:`MUTATING_FUNCTIONS`.

Values whose state advances when they are used (random generators, iterators,
open files, estimators) are recognised by type, from the call that made them,
not by name; passing one to a function not known to leave it alone changes it
(the rule and its tables: :mod:`cellpipe.core.rules`).

Besides names, the facts keep what the compiler needs to judge effects that
depend on other cells (:mod:`cellpipe.core.compiler.effects`): the calls made
at top level with the names passed to them, the definitions (functions,
lambdas, classes) with the names their bodies read and the parameters they
change in place, and which names were last bound to which constructor call.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from cellpipe.core.ipysyntax import (  # noqa: F401 - to_python and parse_code are part of the analysis's API
    const_str,
    expanded_fields,
    is_magic_call,
    parse_code,
    strip_magic_options,
    to_python,
    too_complex,
)
from cellpipe.core.rules import (  # noqa: F401 - re-exported: the analysis's public rules
    AT_NAME_METHODS,
    CODE_CELL_MAGICS,
    CODE_LINE_MAGICS,
    FORMULA_CALLS,
    KERNEL_NAMES,
    MUTATING_FUNCTIONS,
    NO_VAR_EXPAND_MAGICS,
    READ_ONLY_METHODS,
)


@dataclass(frozen=True)
class CallFact:
    """One call made by the code itself (not inside a function body).

    ``callee`` is the dotted name as written (``np.random.seed``), or
    ``%name`` for a line magic; ``args`` pairs each argument that is a name
    (or a chain on one, ``df["a"]``) with its slot: the position, or the
    keyword. ``keywords`` are all keywords given, with ``=None`` ones left
    out. ``statement`` is the source of the top-level statement when the call
    is that whole statement (so that it can be run again elsewhere); ``nested``
    says the call sits in a block (``if``, ``for``, ``with``, ``try``).
    """

    callee: str
    line: int
    args: tuple[tuple[int | str, str], ...] = ()
    keywords: frozenset[str] = frozenset()
    statement: str | None = None
    nested: bool = False
    #: the receiver of a method call, when it is a plain name (``df`` in ``df.sample()``)
    receiver: str | None = None
    #: for a line magic, its argument line
    magic_line: str | None = None
    #: the calls of the ``with`` statements the call sits in, outermost first
    #: (``warnings.catch_warnings``): a setting made there may end with the block
    within: tuple[str, ...] = ()


@dataclass(frozen=True)
class Definition:
    """A function, lambda or class the code defines at top level."""

    name: str
    #: names its body reads when it runs (its free names)
    reads: tuple[str, ...] = ()
    #: parameters the body changes in place: (position or -1, name)
    changes: tuple[tuple[int, str], ...] = ()
    generator: bool = False


@dataclass(frozen=True)
class CodeFacts:
    """What one piece of code does with names, in the order it runs.

    ``reads`` are names read before this code binds them (its free names), in
    order of first use; ``late_reads`` are free names of function and lambda
    bodies, read whenever the function is called, and names IPython expands in
    ``!`` commands and magic lines (``!ls {folder}``, ``%cd $root``), used when
    defined and left as text otherwise. ``binds`` are names bound or
    deleted at top level; ``mutates`` names possibly changed in place.
    ``imports`` maps each name bound by an import statement to that statement.
    """

    reads: tuple[str, ...] = ()
    late_reads: tuple[str, ...] = ()
    binds: frozenset[str] = frozenset()
    mutates: frozenset[str] = frozenset()
    imports: tuple[tuple[str, str], ...] = ()
    star_import: bool = False
    syntax_error: tuple[int, str] | None = None
    #: line numbers (1-based, in the cell) where each name is first bound or changed
    lines: tuple[tuple[str, int], ...] = ()
    calls: tuple[CallFact, ...] = ()
    definitions: tuple[Definition, ...] = ()
    #: each plain-name assignment in order: (name, the dotted callee of the
    #: call it was bound to, ``<generator>`` for a generator expression, or "")
    assigned_from: tuple[tuple[str, str], ...] = ()
    #: names a ``for`` loop or a comprehension iterates over directly
    iterates: frozenset[str] = frozenset()
    #: attribute or item assignments to a dotted target: (target, line,
    #: statement source when the assignment is a whole top-level statement)
    dotted_assigns: tuple[tuple[str, int, str | None], ...] = ()
    #: names a value bound here goes on reading after it is made: (name, names
    #: the formula it was fitted with uses), read again where the value is loaded
    carries: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def touches(self) -> frozenset[str]:
        """Names this code binds or changes: it is their producer for later code."""
        return self.binds | self.mutates

    def line_of(self, name: str) -> int | None:
        """The first line where ``name`` is bound or changed, if known."""
        for n, line in self.lines:
            if n == name:
                return line
        return None


def _chain_root(node: ast.AST) -> str | None:
    """``df`` for ``df``, ``df.a.b``, ``df['x'].loc[1]``; None through calls."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    return None


def dotted_name(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Visitor(ast.NodeVisitor):
    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.reads: list[str] = []
        self._reads_set: set[str] = set()
        self.late_reads: list[str] = []
        self._late_set: set[str] = set()
        self.binds: set[str] = set()
        self.mutates: set[str] = set()
        self.imports: dict[str, str] = {}
        self.star_import = False
        self.lines: dict[str, int] = {}
        self.syntax_error: tuple[int, str] | None = None
        self._line = 0
        self._line_offset = 0
        #: names local to the comprehensions being visited
        self._local: frozenset[str] = frozenset()
        self.calls: list[CallFact] = []
        self.definitions: dict[str, Definition] = {}
        self.assigned_from: list[tuple[str, str]] = []
        self.iterates: set[str] = set()
        self.dotted_assigns: list[tuple[str, int, str | None]] = []
        #: plain names bound to a string literal (a formula written before the call)
        self.strings: dict[str, str] = {}
        #: names read by the formulas of the expression being assigned
        self._formula_names: list[str] = []
        self.carries: dict[str, tuple[str, ...]] = {}
        #: the context managers of the ``with`` blocks being visited
        self._within: tuple[str, ...] = ()
        #: the top-level statement being visited, and how deep inside it we are
        self._top: ast.stmt | None = None
        self._depth = 0

    # -- recording ---------------------------------------------------------
    def _read(self, name: str) -> None:
        if name in self._local:
            return
        if name not in self.bound and name not in self._reads_set:
            self._reads_set.add(name)
            self.reads.append(name)

    def _late_read(self, name: str) -> None:
        if name not in self._late_set and name not in self._local:
            self._late_set.add(name)
            self.late_reads.append(name)

    def _bind(self, name: str) -> None:
        self.bound.add(name)
        self.binds.add(name)
        self.imports.pop(name, None)
        self.lines.setdefault(name, self._line)

    def _mutate(self, name: str) -> None:
        if name in self._local:
            return
        self.mutates.add(name)
        self.lines.setdefault(name, self._line)

    # -- statements --------------------------------------------------------
    def visit(self, node: ast.AST) -> None:
        line = getattr(node, "lineno", None)
        if isinstance(node, (ast.stmt, ast.excepthandler)) and line is not None:
            self._line = line + self._line_offset
        if isinstance(node, ast.stmt):
            top = self._top is None
            if top:
                self._top = node
            else:
                self._depth += 1
            try:
                super().visit(node)
            finally:
                if top:
                    self._top = None
                else:
                    self._depth -= 1
            return
        super().visit(node)

    def _whole_statement(self, node: ast.AST) -> str | None:
        """The top-level statement's source when ``node`` is all of it."""
        top = self._top
        if self._depth or top is None:
            return None
        if (isinstance(top, ast.Expr) and top.value is node) or top is node:
            return ast.unparse(top)
        return None

    def _target(self, target: ast.AST) -> None:
        """Bind an assignment target; item/attribute targets change their root."""
        if isinstance(target, ast.Name):
            self._bind(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt)
        elif isinstance(target, ast.Starred):
            self._target(target.value)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            # evaluate the container expression and the subscript, then change the root
            self.visit(target.value)
            if isinstance(target, ast.Subscript):
                self.visit(target.slice)
            root = _chain_root(target)
            if root is not None:
                self._mutate(root)

    def visit_Assign(self, node: ast.Assign) -> None:
        outer, self._formula_names = self._formula_names, []
        self.visit(node.value)
        formula, self._formula_names = self._formula_names, outer + self._formula_names
        for target in node.targets:
            self._target(target)
            self._note_assignment(target, node.value, node)
            if isinstance(target, ast.Name):
                text = _const_text(node.value)
                if text is not None:
                    self.strings[target.id] = text
                else:
                    self.strings.pop(target.id, None)
                # a model made from a model made with a formula (`res = mod.fit()`) carries it too
                formula += [n for sub in ast.walk(node.value) if isinstance(sub, ast.Name)
                            for n in self.carries.get(sub.id, ())]
                if formula:
                    self.carries[target.id] = tuple(dict.fromkeys(formula))
                else:
                    self.carries.pop(target.id, None)

    def _note_assignment(self, target: ast.AST, value: ast.AST | None, stmt: ast.stmt) -> None:
        """Remember what a plain name was bound to, and dotted targets (``os.environ[k] = v``)."""
        if isinstance(target, ast.Name):
            source = ""
            if isinstance(value, ast.Call):
                source = dotted_name(value.func) or ""
            elif isinstance(value, ast.GeneratorExp):
                source = "<generator>"
            elif isinstance(value, ast.Lambda):
                self.definitions[target.id] = Definition(target.id, *self._lambda_facts(value))
            if self._depth == 0 or source:
                self.assigned_from.append((target.id, source))
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            base = target.value if isinstance(target, ast.Subscript) else target
            dotted = dotted_name(base)
            if dotted is not None and "." in dotted:
                self.dotted_assigns.append((dotted, self._line, self._whole_statement(stmt)))

    def _lambda_facts(self, node: ast.Lambda) -> tuple[tuple[str, ...], tuple[tuple[int, str], ...]]:
        params = _params(node.args)
        free, _, _, changed = _function_free_names(set(params), [ast.Return(value=node.body)])
        return tuple(free), _changed_params(node.args, changed)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
            self._target(node.target)
            self._note_assignment(node.target, node.value, node)
        elif not isinstance(node.target, ast.Name):
            self.visit(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        # ``t op= v`` reads the target first, then the value
        target = node.target
        if isinstance(target, ast.Name):
            self._read(target.id)
            self.visit(node.value)
            self._bind(target.id)
        else:
            self.visit(target.value)
            if isinstance(target, ast.Subscript):
                self.visit(target.slice)
            self.visit(node.value)
            root = _chain_root(target)
            if root is not None:
                self._mutate(root)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self._read(target.id)
                self._bind(target.id)
                self.bound.discard(target.id)
            else:
                self._target(target)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self._bind(name)
            stmt = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            self.imports[name] = stmt

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self.star_import = True
                continue
            name = alias.asname or alias.name
            self._bind(name)
            stmt = f"from {module} import {alias.name}" + (
                f" as {alias.asname}" if alias.asname else ""
            )
            self.imports[name] = stmt

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self.visit(node.iter)
        if isinstance(node.iter, ast.Name):
            self.iterates.add(node.iter.id)
        self._target(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._target(item.optional_vars)
                self._note_assignment(item.optional_vars, item.context_expr, node)
        contexts = [dotted_name(item.context_expr.func) or "" for item in node.items
                    if isinstance(item.context_expr, ast.Call)]
        saved = self._within
        self._within = (*saved, *contexts)
        try:
            for stmt in node.body:
                self.visit(stmt)
        finally:
            self._within = saved

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name)
        for stmt in node.body:
            self.visit(stmt)

    def visit_Global(self, node: ast.Global) -> None:  # top level: no effect
        return

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:  # top level: no effect (a syntax error there)
        return

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        self._visit_arguments_defaults(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        free, changed = self._function_body(node.args, node.body)
        self._bind(node.name)
        generator = any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in _walk_function(node.body))
        self.definitions[node.name] = Definition(node.name, tuple(free), _changed_params(node.args, changed),
                                                 generator)
        self.assigned_from.append((node.name, ""))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments_defaults(node.args, annotations=False)
        self._function_body(node.args, [ast.Return(value=node.body)])

    def _visit_arguments_defaults(self, args: ast.arguments, annotations: bool = True) -> None:
        for default in list(args.defaults) + [d for d in args.kw_defaults if d is not None]:
            self.visit(default)
        if annotations:
            for arg in args.posonlyargs + args.args + args.kwonlyargs + [
                a for a in (args.vararg, args.kwarg) if a is not None
            ]:
                if arg.annotation is not None:
                    self.visit(arg.annotation)

    def _function_body(self, args: ast.arguments, body: list[ast.stmt]) -> tuple[list[str], set[str]]:
        """Record a function body's effects; return its free names and the parameters it changes."""
        free, global_binds, global_mutates, changed = _function_free_names(set(_params(args)), body)
        for name in free:
            self._late_read(name)
        for name in global_binds:
            self._bind(name)
        for name in global_mutates:
            self._mutate(name)
        return free, changed

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        for base in node.bases:
            self.visit(base)
        for kw in node.keywords:
            self.visit(kw.value)
        # the class body runs now, in its own namespace
        inner = _Visitor()
        for stmt in node.body:
            inner.visit(stmt)
        for name in inner.reads:
            self._read(name)
        # methods and lambdas do not see the class body's names: all their
        # free names are module-level names
        for name in inner.late_reads:
            self._late_read(name)
        if inner.syntax_error and not self.syntax_error:
            self.syntax_error = inner.syntax_error
        for name in inner.mutates - inner.binds:
            self._mutate(name)
        self._bind(node.name)
        self.definitions[node.name] = Definition(node.name, tuple(dict.fromkeys([*inner.reads, *inner.late_reads])))
        self.assigned_from.append((node.name, ""))

    def visit_Match(self, node: ast.AST) -> None:
        self.visit(node.subject)  # type: ignore[attr-defined]
        for case in node.cases:  # type: ignore[attr-defined]
            self._pattern(case.pattern)
            if case.guard is not None:
                self.visit(case.guard)
            for stmt in case.body:
                self.visit(stmt)

    def _pattern(self, pattern: ast.AST) -> None:
        for node in ast.walk(pattern):
            name = getattr(node, "name", None)
            if isinstance(node, (ast.MatchAs, ast.MatchStar)) and name:
                self._bind(name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                self._bind(node.rest)
            elif isinstance(node, ast.MatchValue):
                self.visit(node.value)
            elif isinstance(node, ast.MatchClass):
                self.visit(node.cls)

    # -- expressions -------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._read(node.id)
        elif isinstance(node.ctx, ast.Store):
            self._bind(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind(node.target.id)

    def _comprehension(self, node: ast.AST, elts: list[ast.AST]) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        # the first iterable is evaluated in the enclosing scope
        self.visit(generators[0].iter)
        if isinstance(generators[0].iter, ast.Name):
            self.iterates.add(generators[0].iter.id)
        outer = self._local
        local = set(outer)
        try:
            for i, gen in enumerate(generators):
                if i:
                    self.visit(gen.iter)
                local.update(
                    n.id
                    for n in ast.walk(gen.target)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
                )
                self._local = frozenset(local)
                for cond in gen.ifs:
                    self.visit(cond)
            # a walrus in here binds the enclosing scope (visit_NamedExpr)
            for elt in elts:
                self.visit(elt)
        finally:
            self._local = outer

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp  # type: ignore[assignment]
    visit_GeneratorExp = visit_ListComp  # type: ignore[assignment]

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])

    def visit_Call(self, node: ast.Call) -> None:
        if is_magic_call(node, "run_cell_magic") and len(node.args) >= 3:
            magic, line, body = (const_str(a) for a in node.args[:3])
            if magic in CODE_CELL_MAGICS and body is not None:
                # the body follows the magic's own line
                first_line = node.lineno + 1
                if magic == "capture" and line:
                    var = line.split()[-1] if not line.split()[-1].startswith("-") else None
                    self._visit_source(body, first_line)
                    if var and var.isidentifier():
                        self._bind(var)
                    return
                self._visit_source(body, first_line)
                return
            if magic is not None and magic not in NO_VAR_EXPAND_MAGICS and line:
                self._expanded(line)
        if is_magic_call(node, "run_line_magic") and len(node.args) >= 2:
            magic, line = (const_str(a) for a in node.args[:2])
            if magic is not None:
                self.calls.append(CallFact(f"%{magic}", self._line, statement=self._whole_statement(node),
                                           nested=self._depth > 0, magic_line=line or ""))
            if magic in CODE_LINE_MAGICS and line:
                self._visit_source(strip_magic_options(line), node.lineno)
                return
            if magic is not None and magic not in NO_VAR_EXPAND_MAGICS and line:
                self._expanded(line)
        for method in ("system", "getoutput"):
            if is_magic_call(node, method) and node.args:
                command = const_str(node.args[0])
                if command:
                    self._expanded(command)
        self.generic_visit(node)
        self._call_effects(node)
        self._note_call(node)
        self._formula_reads(node)

    def _formula_reads(self, node: ast.Call) -> None:
        """Names a formula string (``smf.ols("y ~ np.log(x)", ...)``) or a
        ``df.query("x > @limit")`` expression reads when the call runs."""
        func = node.func
        last = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        if last in FORMULA_CALLS:
            arg = next((kw.value for kw in node.keywords if kw.arg == "formula"), None)
            if arg is None and node.args:
                arg = node.args[0]
            text = self._text_of(arg)
            if text is None:
                return
            names = formula_names(text)
            self._formula_names.extend(names)
        elif last in AT_NAME_METHODS and isinstance(func, ast.Attribute) and node.args:
            text = self._text_of(node.args[0])
            if text is None:
                return
            names = _expanded_at_names(text)
        else:
            return
        for name in names:
            self._late_read(name)

    def _text_of(self, node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Name):
            return self.strings.get(node.id)
        return _const_text(node) if node is not None else None

    def _note_call(self, node: ast.Call) -> None:
        callee = dotted_name(node.func)
        if callee is None:
            return
        args: list[tuple[int | str, str]] = []
        for pos, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                break
            root = _chain_root(arg)
            if root is not None and root not in self._local:
                args.append((pos, root))
        keywords: set[str] = set()
        for kw in node.keywords:
            if kw.arg is None:
                continue
            if not (isinstance(kw.value, ast.Constant) and kw.value.value is None):
                keywords.add(kw.arg)
            root = _chain_root(kw.value)
            if root is not None and root not in self._local:
                args.append((kw.arg, root))
        receiver = None
        if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            receiver = node.func.value.id
        self.calls.append(CallFact(callee, self._line, tuple(args), frozenset(keywords),
                                   self._whole_statement(node), self._depth > 0, receiver, within=self._within))

    def _expanded(self, text: str) -> None:
        """Names IPython would expand in ``text`` (``{expr}``, ``$name``): late reads."""
        for name in _expanded_names(text):
            self._late_read(name)

    def _call_effects(self, node: ast.Call) -> None:
        func = node.func
        # ``inplace=flag`` may be true: only a literal false leaves the object alone
        inplace = any(
            kw.arg == "inplace"
            and not (isinstance(kw.value, ast.Constant) and not kw.value.value)
            for kw in node.keywords
        )
        if isinstance(func, ast.Attribute):
            root = _chain_root(func.value)
            if root is not None:
                if inplace or func.attr not in READ_ONLY_METHODS:
                    self._mutate(root)
        last = func.attr if isinstance(func, ast.Attribute) else (
            func.id if isinstance(func, ast.Name) else None
        )
        if last in MUTATING_FUNCTIONS:
            pos = MUTATING_FUNCTIONS[last]
            if len(node.args) > pos:
                root = _chain_root(node.args[pos])
                if root is not None:
                    self._mutate(root)

    def _visit_source(self, source: str, first_line: int) -> None:
        """Visit code that a magic runs; ``first_line`` is its line in the cell."""
        offset = first_line - 1 + self._line_offset
        try:
            tree = parse_code(source)
        except SyntaxError as exc:
            if self.syntax_error is None:
                self.syntax_error = ((exc.lineno or 1) + offset, exc.msg)
            return
        saved = self._line_offset, self._line
        self._line_offset = offset
        try:
            for stmt in tree.body:
                self.visit(stmt)
        finally:
            self._line_offset, self._line = saved


def _expanded_names(text: str) -> list[str]:
    """Names read by the ``{expr}`` and ``$name`` fields IPython expands in ``text``."""
    try:
        fields = expanded_fields(text)
    except ValueError:  # unbalanced braces: IPython leaves the text as it is
        return []
    names: list[str] = []
    for field in fields:
        try:
            tree = ast.parse(field.strip(), mode="eval")
        except SyntaxError:
            continue
        inner = _Visitor()
        inner.visit(tree.body)
        names.extend(n for n in [*inner.reads, *inner.late_reads] if n not in names)
    return names


def _const_text(node: ast.AST) -> str | None:
    """The value of a string literal, or of literals joined with ``+``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _const_text(node.left), _const_text(node.right)
        return None if left is None or right is None else left + right
    return None


def formula_names(text: str) -> list[str]:
    """The names a patsy formula reads from the namespace it is evaluated in (or
    from the data's columns: which, only the data knows): the roots of its terms'
    Python expressions, not attribute names, keyword names or patsy's operators."""
    import io
    import keyword
    import tokenize

    names: list[str] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return names
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            continue
        before = tokens[i - 1].string if i else ""
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if before == "." or (after == "=" and before in ("(", ",")):
            continue
        if tok.string not in names:
            names.append(tok.string)
    return names


def _expanded_at_names(text: str) -> list[str]:
    """``limit`` in ``"x > @limit"``: the caller's variables a query or eval expression reads."""
    import re

    return list(dict.fromkeys(re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)", text)))


def _params(args: ast.arguments) -> list[str]:
    return [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs
            + [a for a in (args.vararg, args.kwarg) if a is not None]]


def _changed_params(args: ast.arguments, changed: set[str]) -> tuple[tuple[int, str], ...]:
    """The parameters in ``changed`` as (position, name); -1 for keyword-only ones."""
    positional = [a.arg for a in args.posonlyargs + args.args]
    out = [(positional.index(n), n) for n in positional if n in changed]
    out += [(-1, a.arg) for a in args.kwonlyargs if a.arg in changed]
    return tuple(out)


def _function_free_names(
    params: set[str], body: list[ast.stmt]
) -> tuple[list[str], set[str], set[str], set[str]]:
    """Free names of a function body; globals it binds; globals it changes in
    place; parameters it changes in place (never rebinds them first)."""
    declared_global: set[str] = set()
    for node in _walk_function(body):
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared_global.update(node.names)
    inner = _Visitor()
    inner.bound = set(params)
    for stmt in body:
        inner.visit(stmt)
    local = (inner.binds | params) - declared_global
    free = [n for n in inner.reads + inner.late_reads if n not in local]
    global_binds = inner.binds & declared_global
    global_mutates = {n for n in inner.mutates if n not in local}
    changed = {n for n in inner.mutates & params if n not in inner.binds}
    ordered = list(dict.fromkeys(free))  # first occurrence of each, in order
    return ordered, global_binds, global_mutates, changed


def _walk_function(body: list[ast.stmt]):
    todo: list[ast.AST] = list(body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        todo.extend(ast.iter_child_nodes(node))


def analyze(source: str) -> CodeFacts:
    """Analyze one cell's (or one step's) code.

    Never raises for bad code: a syntax error (in the cell, or in the code a
    ``%time``-like magic runs) is reported in ``CodeFacts.syntax_error`` as
    ``(line, message)``, the line counted in the cell.
    """
    try:
        tree = parse_code(source)
    except SyntaxError as exc:
        return CodeFacts(syntax_error=(exc.lineno or 1, exc.msg))
    visitor = _Visitor()
    try:
        for stmt in tree.body:
            visitor.visit(stmt)
    except RecursionError:
        return CodeFacts(syntax_error=(visitor._line or 1, too_complex(RecursionError())))
    return CodeFacts(
        reads=tuple(visitor.reads),
        late_reads=tuple(visitor.late_reads),
        binds=frozenset(visitor.binds),
        mutates=frozenset(visitor.mutates),
        imports=tuple(sorted(visitor.imports.items())),
        star_import=visitor.star_import,
        syntax_error=visitor.syntax_error,
        lines=tuple(sorted(visitor.lines.items())),
        calls=tuple(visitor.calls),
        definitions=tuple(visitor.definitions.values()),
        assigned_from=tuple(visitor.assigned_from),
        iterates=frozenset(visitor.iterates),
        dotted_assigns=tuple(visitor.dotted_assigns),
        carries=tuple(sorted(visitor.carries.items())),
    )
