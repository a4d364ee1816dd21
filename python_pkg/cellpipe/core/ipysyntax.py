"""IPython syntax for the analysis: rewriting magics, ``!`` lines and ``?`` help
into Python with IPython's own transformer, and recognising the magic calls
that run code in the user namespace. Pure (IPython is imported on demand)."""

from __future__ import annotations

import ast
import re
import string
from functools import lru_cache
from typing import Any


def is_magic_call(node: ast.Call, method: str) -> bool:
    """Whether ``node`` is ``get_ipython().<method>(...)``, as IPython rewrites magics."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == method
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
    )


def const_str(node: ast.AST) -> str | None:
    """The value of a string literal node, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def strip_magic_options(line: str) -> str:
    """``-n 10 -r 3 f(x)`` -> ``f(x)`` for %timeit-style option lists."""
    tokens = line.lstrip()
    while tokens.startswith("-"):
        head, _, rest = tokens.partition(" ")
        if head in ("-n", "-r", "-p", "-s", "-T", "-D", "-l") and rest:
            _, _, rest = rest.lstrip().partition(" ")
        tokens = rest.lstrip()
    return tokens


#: IPython gives up on a cell after this many rewrites (its ``TRANSFORM_LOOP_LIMIT``):
#: the kernel then refuses to run the cell at all.
REWRITE_LIMIT = 500


class IPythonSyntaxError(SyntaxError):
    """IPython itself could not rewrite the cell, so a kernel would not run it."""


@lru_cache(maxsize=1)
def _transformer():
    from IPython.core import inputtransformer2 as it2

    class HelpEnd(it2.HelpEnd):
        """IPython's ``obj?`` rewrite, with its end-anchored regex search made linear."""

        def transform(self, lines: list[str]) -> list[str]:
            piece = "".join(lines[self.start_line : self.q_line + 1])
            indent, content = piece[: self.start_col], piece[self.start_col :]
            found = help_target(content)
            if found is None:
                raise SyntaxError(content)
            target, esc = found
            return [*lines[: self.start_line], indent + it2._make_help_call(target, esc) + "\n",
                    *lines[self.q_line + 1 :]]

    manager = it2.TransformerManager()
    manager.token_transformers = [HelpEnd if t is it2.HelpEnd else t for t in manager.token_transformers]
    return manager


def to_python(source: str) -> str:
    """Rewrite IPython syntax (magics, ``!cmd``, ``x?``) into plain Python.

    Line for line: IPython drops leading blank lines, which are put back so
    that line numbers in the result are the cell's line numbers. Gives what
    IPython's ``TransformerManager.transform_cell`` gives, in time linear in
    the cell's size (IPython tokenizes the whole cell again after each rewrite,
    and searches ``obj?`` lines with a quadratic regex). Raises
    :class:`IPythonSyntaxError` where IPython would refuse the cell.
    """
    lines = source.splitlines()
    blank = next((i for i, line in enumerate(lines) if line.strip()), 0)
    manager = _transformer()
    cell = source if source.endswith("\n") else source + "\n"
    rows = cell.splitlines(keepends=True)
    for transform in manager.cleanup_transforms + manager.line_transforms:
        rows = transform(rows)
    return "\n" * blank + "".join(_token_transforms(manager.token_transformers, rows))


def _indent_column(text: str) -> int:
    """The column ``tokenize`` gives an indentation (tabs to multiples of 8)."""
    column = 0
    for char in text:
        if char == " ":
            column += 1
        elif char == "\t":
            column = (column // 8 + 1) * 8
        elif char == "\f":
            column = 0
    return column


def _may_rewrite(line: str) -> bool:
    """Whether a logical line holding this physical line could be rewritten:
    every rewrite needs a ``!``, ``%`` or ``?``, or a line starting ``,;/``."""
    return "!" in line or "%" in line or "?" in line or line.lstrip()[:1] in (",", ";", "/")


def _token_transforms(transformers: list[Any], lines: list[str]) -> list[str]:
    """IPython's token transforms, applied logical line by logical line.

    IPython applies the earliest rewrite, then tokenizes the whole cell again.
    Lines before the earliest rewrite never change, so this tokenizes again
    only from the rewritten logical line on, with a tokenizer primed with the
    indentation levels open there, and stops at the last line that could be
    rewritten.
    """
    rewriter = _Rewriter(transformers, lines)
    indents: list[int] | None = [0]
    rewrites = 0
    while indents is not None:
        indents = rewriter.rewrite_first(indents)
        if indents is None:
            break
        rewrites += 1
        if rewrites >= REWRITE_LIMIT:
            raise IPythonSyntaxError(
                f"the cell has {REWRITE_LIMIT} or more lines of IPython syntax (magics, `!` commands, `?` help), "
                "more than IPython rewrites in one cell, so the kernel would refuse to run it",
                ("<cell>", len(rewriter.done) + 1, 0, ""),
            )
    return rewriter.done


class _Rewriter:
    """The lines of a cell as they go through IPython's token transforms."""

    def __init__(self, transformers: list[Any], lines: list[str]) -> None:
        self.transformers = transformers
        self.done: list[str] = []  # lines no rewrite will touch again
        self.todo = lines[::-1]  # the lines still to tokenize, the next one last
        self.pending = sum(map(_may_rewrite, lines))  # lines in todo that could be rewritten

    def pop(self) -> str:
        line = self.todo.pop()
        self.pending -= _may_rewrite(line)
        return line

    def push(self, lines: list[str]) -> None:
        self.todo.extend(reversed(lines))
        self.pending += sum(map(_may_rewrite, lines))

    def rewrite_first(self, indents: list[int]) -> list[int] | None:
        """Tokenize from the next line on and apply the first rewrite.

        Lines before the rewritten logical line go to ``done``, the rewritten
        lines back to ``todo``; returns the indentation levels open where they
        start, or None (every line in ``done``) when nothing is left to rewrite.
        """
        import tokenize

        from IPython.utils.tokenutil import generate_tokens_catch_errors

        prime = [" " * column + "x\n" for column in indents[1:]]
        feed: list[str] = []  # the lines this tokenizer has read, in order
        primer = iter(prime)

        def readline() -> str:
            for line in primer:
                return line
            if not self.todo:
                return ""
            feed.append(self.pop())
            return feed[-1]

        tokens = generate_tokens_catch_errors(readline, extra_errors_to_catch=["expected EOF"])
        indents = list(indents)
        group: list[tokenize.TokenInfo] = []
        group_indents = list(indents)
        parens = 0
        ended = False
        while not ended:
            try:
                token = next(tokens)
            except (StopIteration, tokenize.TokenError):  # the end, or a statement left open at the end
                ended = True
            else:
                if token.start[0] <= len(prime) and token.type != tokenize.ERRORTOKEN:
                    continue  # the primer's own tokens
                group.append(token)
                if token.type == tokenize.INDENT:
                    indents.append(_indent_column(token.string))
                elif token.type == tokenize.DEDENT and len(indents) > 1:
                    indents.pop()
                elif token.type == tokenize.OP and token.string in ("(", "[", "{"):
                    parens += 1
                elif token.type == tokenize.OP and token.string in (")", "]", "}") and parens > 0:
                    parens -= 1
                if not (token.type == tokenize.NEWLINE or (token.type == tokenize.NL and parens <= 0)):
                    continue
            if group:
                first = max(group[0].start[0] - len(prime) - 1, 0)
                window = feed[first:]
                new = self._rewrite_group(group, len(prime) + first, window) if any(
                    map(_may_rewrite, window)) else None
                if new is not None:
                    self.done.extend(feed[:first])
                    self.push(new)
                    return group_indents
            if not self.pending and not ended and not (feed and feed[-1].endswith("\\\n")):
                break  # no line left that could be rewritten
            group = []
            group_indents = list(indents)
        self.done.extend(feed)
        self.done.extend(reversed(self.todo))
        self.todo.clear()
        return None

    def _rewrite_group(self, group: list[Any], offset: int, window: list[str]) -> list[str] | None:
        """The first rewrite IPython would apply to one logical line (``window``), or None."""
        from IPython.core.inputtransformer2 import TokenTransformBase

        candidates = []
        for cls in self.transformers:
            found = cls.find([group])
            if found is not None:
                found.start_line -= offset
                if hasattr(found, "q_line"):
                    found.q_line -= offset
                candidates.append(found)
        if not candidates:
            return None
        todo = self.todo
        extra = 0  # lines a trailing backslash continues onto, past the logical line
        last = window[-1] if window else ""
        while extra < len(todo) and last.endswith("\\\n"):
            last = todo[-1 - extra]
            extra += 1
        lines = window + [todo[-1 - k] for k in range(extra)]
        for candidate in sorted(candidates, key=TokenTransformBase.sortby):
            try:
                new = candidate.transform(lines)
            except SyntaxError:
                continue
            for _ in range(extra):
                self.pop()
            return new
        return None


def help_target(content: str) -> tuple[str, str] | None:
    """IPython's ``obj?`` target and escape (``?`` or ``??``) at the end of ``content``.

    What ``_help_end_re.search(content)`` of IPython's input transformer finds
    (groups 1 and 3), in linear time: the longest suffix ``%{0,2}NAME`` with
    ``.NAME`` and ``[-?DIGITS]`` trailers, NAME not starting with a digit.
    """
    text = content[:-1] if content.endswith("\n") else content
    body = text.rstrip("?")
    esc = text[len(body) :]
    if esc not in ("?", "??"):
        return None
    best: int | None = None
    i = len(body)
    while i > 0:
        if body[i - 1] == "]":  # an index trailer: [-?[0-9]+]
            k = i - 1
            while k > 0 and body[k - 1] in "0123456789":
                k -= 1
            if k == i - 1:
                break
            if k > 0 and body[k - 1] == "-":
                k -= 1
            if k == 0 or body[k - 1] != "[":
                break
            i = k - 1
            continue
        j = i
        while j > 0 and (body[j - 1].isalnum() or body[j - 1] in "_*"):
            j -= 1
        if j == i:
            break
        head = next((k for k in range(j, i) if not body[k].isdecimal()), None)
        if head is not None:
            best = head
            if head == j:
                while best > 0 and j - best < 2 and body[best - 1] == "%":
                    best -= 1
        if j > 0 and body[j - 1] == "." and not body[j].isdecimal():
            i = j - 1  # a .NAME trailer: the target may go on to the left
            continue
        break
    return None if best is None else (body[best:], esc)


#: What the parser raises, besides SyntaxError, on code it cannot take: null
#: bytes (ValueError before Python 3.12), nesting too deep for its stack.
_PARSE_FAILURES = (ValueError, MemoryError, RecursionError)


def _parse_python(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except _PARSE_FAILURES as exc:
        raise SyntaxError(too_complex(exc), ("<cell>", 1, 0, "")) from exc


def too_complex(exc: BaseException) -> str:
    """The message for code the parser refused without a SyntaxError."""
    if isinstance(exc, ValueError):
        return str(exc)
    return "the code is nested too deeply for Python to compile it"


#: a line IPython will surely rewrite: ``!cmd``, ``%magic``, ``x?`` (parsing it as Python first is wasted time)
_IPYTHON_LINE = re.compile(r"^[ \t]*[!%]|\?[ \t]*$", re.MULTILINE)


def parse_code(source: str) -> ast.Module:
    """Parse notebook code, IPython syntax included; raises only SyntaxError."""
    error: SyntaxError | None = None
    if not _IPYTHON_LINE.search(source):
        try:
            return _parse_python(source)
        except SyntaxError as exc:
            error = exc
    try:
        python = to_python(source)
    except IPythonSyntaxError:
        raise
    except Exception:  # noqa: BLE001 - IPython could not rewrite it: Python's own error stands
        if error is None:  # Python's own parse was skipped: its answer (an error, or the code) stands
            return _parse_python(source)
        raise error from None
    return _parse_python(python)


_DOLLAR_FIELD = re.compile(r"\$?[\w.]+")


def expanded_fields(text: str) -> list[str]:
    """The fields IPython expands in a magic's or ``!`` command's ``text``.

    ``{expr}`` fields and ``$name`` fields, in order, as IPython's
    ``DollarFormatter().parse`` yields them (a ``$name`` counts only when an
    even number of single quotes follows it; ``$$name`` is a literal
    ``$name``), in linear time where IPython's regex takes quadratic time.
    Raises ValueError on unbalanced braces, as IPython does.
    """
    fields: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(text):
        total = literal.count("'")
        seen = counted = pos = 0
        while (start := literal.find("$", pos)) >= 0:
            match = _DOLLAR_FIELD.match(literal, start + 1)
            if match is None:
                pos = start + 1
                continue
            seen += literal.count("'", counted, match.end())
            counted = match.end()
            if (total - seen) % 2:
                pos = start + 1
                continue
            if not match.group().startswith("$"):
                fields.append(match.group())
            pos = match.end()
        if field:
            fields.append(field)
    return fields
