"""The operation budget of one render: what keeps a template from burning a shared CPU.

Jinja's sandbox stops attribute tricks but not work: `{% for a in range(10**4) %}{% for b
in range(10**4) %}` runs 10^8 iterations, a recursive macro ends in a RecursionError, and
`{% set s = s ~ s %}` in a loop doubles a string until memory runs out. `BudgetedSandbox`
counts, per render, and refuses past a limit (a `BudgetExceeded`, which rendering.py turns
into a RenderError naming the limit):

- MAX_STEPS: loop iterations (every `{% for %}`, recursive loops included) plus calls
  (macros, methods, globals) plus filter applications;
- MAX_DEPTH: calls nested in calls (a macro calling itself, `loop()` in a recursive loop);
- MAX_BUILT: characters (or items) of every intermediate value an operation builds
  (`~`, `+`, filters, calls) or works through (the value a filter or a method is applied
  to, the right side of `in`); the rendered text itself is capped by rendering.MAX_OUTPUT.
  Operations whose result can be far larger than their inputs (padding widths, format
  specs, replace, join, indent, batch/slice fill) are checked before they run, and a
  container is measured before it is turned into text, so no single step allocates much
  more than the limit before the count sees it.

The counts are deterministic (same template and values, same outcome, in the SDK and on
the server); they are kept in a ContextVar, so concurrent renders in threads or tasks
each have their own.
"""

from __future__ import annotations

import functools
import re
import string
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, TypeVar

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import _PassArg

MAX_STEPS = 100_000
MAX_DEPTH = 40
MAX_BUILT = 10_000_000
MAX_VALUE = 1_000_000  # characters or items of one value an operation builds
MAX_FORMAT_WIDTH = 10_000  # a width or precision in a format spec

T = TypeVar("T")


class BudgetExceeded(SecurityError):
    """A render went over its operation budget; the message names the limit."""


@dataclass
class Budget:
    steps: int = MAX_STEPS
    built: int = MAX_BUILT
    depth: int = 0

    def step(self, count: int = 1) -> None:
        self.steps -= count
        if self.steps < 0:
            raise BudgetExceeded(
                f"more than {MAX_STEPS:,} loop iterations, calls and filters "
                "(the operation limit of one render)"
            )

    def build(self, size: int) -> None:
        """An operation built a value of `size` characters or items."""
        if size > MAX_VALUE:
            raise BudgetExceeded(
                f"a value of {size:,} characters or items (the limit is {MAX_VALUE:,})"
            )
        self.scan(size)

    def scan(self, size: int) -> None:
        """An operation worked through `size` characters or items (a filter over a value,
        a method of it, `in` it): `{% for i in range(10**5) %}{{ big|sum }}` is cheap in
        steps and dear in work."""
        self.built -= size
        if self.built < 0:
            raise BudgetExceeded(
                f"more than {MAX_BUILT:,} characters built or scanned while rendering "
                "(the work limit of one render)"
            )


def shape_problem(value: Any, *, max_depth: int, max_values: int | None = None) -> str | None:
    """None when JSON-like `value` nests at most `max_depth` containers deep and holds at
    most `max_values` values (None: any number), else what is wrong, e.g. "is nested deeper
    than 32 levels"; measured without recursion, so a 900-level document is a message, not
    a RecursionError. A container counts one level ({} and [] are depth 1); every value
    (dict values, list items, scalars and the document itself) counts towards `max_values`.
    Stops at the first excess, so the cost is bounded by the limits. The server uses it
    too (apps.core.jsonshape)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    count = 0
    while stack:
        item, depth = stack.pop()
        count += 1
        if max_values is not None and count > max_values:
            return f"holds more than {max_values} values"
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"is nested deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


_current: ContextVar[Budget | None] = ContextVar("promptyard_render_budget", default=None)


def start() -> Token[Budget | None]:
    """Give the renders of this thread/task from now on a fresh budget; returns a token
    for `stop`."""
    return _current.set(Budget(steps=MAX_STEPS, built=MAX_BUILT))


def stop(token: Token[Budget | None]) -> None:
    _current.reset(token)


_SIZED = frozenset({str, bytes, list, tuple, dict, set, frozenset})
_CONTAINERS = (dict, list, tuple, set, frozenset)


def _size(value: Any) -> int:
    if type(value) in _SIZED or isinstance(value, (str, list, dict)):
        return len(value)
    return 0


def _text_size(value: Any, limit: int, budget: Budget) -> int:
    """About how many characters str(value) has, measured without building it; stops
    counting past `limit`. Every container visited costs a step."""
    total = 0
    stack: list[Any] = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, (str, bytes)):
            total += len(item)
        elif isinstance(item, dict):
            budget.step()
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            budget.step()
            total += 2 + 2 * len(item)
            stack.extend(item)
        else:
            total += 24
    return total


def check_text(value: T, budget: Budget | None = None) -> T:
    """Refuse to turn a container into text longer than MAX_VALUE; return the value.
    (Also the environment's `finalize`: it sees every `{{ value }}` before str() does.)"""
    if type(value) is not str and isinstance(value, _CONTAINERS):
        budget = budget or _current.get()
        if budget is not None and _text_size(value, MAX_VALUE, budget) > MAX_VALUE:
            raise BudgetExceeded(f"turning a value into more than {MAX_VALUE:,} characters of text")
    return value


def loop_budget(iterable: Iterable[T]) -> Iterator[T]:
    """Wrapped around the iterable of every `{% for %}`: one step per iteration."""
    budget = _current.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.step()
        yield item


def concatenated(operands: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`, counted: a container is measured before str() of it, and the result
    counts towards MAX_BUILT. (Jinja's own str_join then sees one string.)"""
    budget = _current.get()
    if budget is None:
        return "".join(map(str, operands))
    for operand in operands:
        check_text(operand, budget)
    text = "".join(map(str, operands))
    budget.build(len(text))
    return text


def searched(container: T) -> T:
    """Wrapped around the right side of `in` / `not in`: the search costs its size."""
    budget = _current.get()
    if budget is not None:
        budget.scan(_size(container))
    return container


def _in_test(value: Any, seq: Any) -> bool:
    """The `is in` test, counted like the `in` operator."""
    return value in searched(seq)


_MODULE = __name__
_METHOD_TYPES = frozenset({types.BuiltinMethodType, types.MethodType})
_INTERNAL = frozenset({loop_budget, concatenated, searched})


def _call(name: str, *args: nodes.Node, lineno: int) -> nodes.Call:
    return nodes.Call(
        nodes.ImportedName(f"{_MODULE}.{name}", lineno=lineno),
        list(args),
        [],
        None,
        None,
        lineno=lineno,
    )


def _counted(tree: nodes.Template) -> nodes.Template:
    """Rewrites a parsed template in place so loops, concatenations and searches report
    to the budget: `{% for x in items %}` iterates `loop_budget(items)`, `a ~ b` joins
    `concatenated((a, b))`, `a in b` searches `searched(b)`."""
    for node in tree.find_all((nodes.For, nodes.Concat, nodes.Operand)):
        if isinstance(node, nodes.For):
            node.iter = _call("loop_budget", node.iter, lineno=node.lineno)
        elif isinstance(node, nodes.Concat):
            operands = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
            node.nodes = [_call("concatenated", operands, lineno=node.lineno)]
        elif isinstance(node, nodes.Operand) and node.op in ("in", "notin"):
            node.expr = _call("searched", node.expr, lineno=node.expr.lineno)
    return tree


# --- checks before an operation runs ----------------------------------------------------

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(template: Any) -> None:
    """`"%0*d" % (10**9, 1)` and `"%999999999d"` allocate before anything can count."""
    if not isinstance(template, str):
        return
    for width, precision in _PERCENT_SPEC.findall(template):
        for number in (width, precision):
            if number == "*":
                raise BudgetExceeded("a '*' width in a % format")
            if number and int(number) > MAX_FORMAT_WIDTH:
                raise BudgetExceeded(
                    f"a format width or precision of {number} (the limit is {MAX_FORMAT_WIDTH:,})"
                )


_DIGITS = re.compile(r"\d+")


def check_brace_format(template: str) -> None:
    """The same for str.format: `"{:>999999999}".format(1)`."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format will say what is wrong
    for _, _, spec, _ in fields:
        if not spec:
            continue
        if "{" in spec:
            raise BudgetExceeded("a format spec taken from a replacement field")
        for number in _DIGITS.findall(spec):
            if int(number) > MAX_FORMAT_WIDTH:
                raise BudgetExceeded(
                    f"a format width or precision of {number} (the limit is {MAX_FORMAT_WIDTH:,})"
                )


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_VALUE:
        raise BudgetExceeded(f"a width of {width:,} (the limit is {MAX_VALUE:,})")


def _check_replace(text: Any, old: Any = "", new: Any = "", count: Any = -1) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    growth = len(new) - len(old)
    if growth <= 0:
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * growth > MAX_VALUE:
        raise BudgetExceeded(f"a replace() building more than {MAX_VALUE:,} characters")


def _check_join(separator: Any, items: Any) -> None:
    if isinstance(separator, str) and hasattr(items, "__len__"):
        if len(separator) * max(len(items) - 1, 0) > MAX_VALUE:
            raise BudgetExceeded(f"a join() building more than {MAX_VALUE:,} characters")


def _check_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    receiver = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if not isinstance(receiver, str):
        return
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _check_width(args[0])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int) and receiver.count("\t") * size > MAX_VALUE:
            raise BudgetExceeded(f"an expandtabs() building more than {MAX_VALUE:,} characters")
    elif name == "replace" and len(args) >= 2:
        _check_replace(receiver, *args[:3])
    elif name == "join" and args:
        _check_join(receiver, args[0])


# Filters that turn their value into text (a container given to them is measured first).
_TEXT_FILTERS = frozenset(
    "capitalize center e escape forceescape format indent join lower pprint replace safe "
    "string striptags title tojson trim truncate upper urlencode urlize wordcount wordwrap "
    "xmlattr".split()
)


def _check_indent(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    width = args[0] if args else kwargs.get("width", 4)
    lines = value.count("\n") + 1 if isinstance(value, str) else 1
    per_line = len(width) if isinstance(width, str) else width
    if isinstance(per_line, int) and per_line * lines > MAX_VALUE:
        raise BudgetExceeded(f"an indent building more than {MAX_VALUE:,} characters")


def _check_size_argument(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    _check_width(args[0] if args else next(iter(kwargs.values()), None))


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _check_format_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    check_percent_format(value)


def _check_replace_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    count = _argument(args, kwargs, 2, "count")
    _check_replace(
        value,
        _argument(args, kwargs, 0, "old"),
        _argument(args, kwargs, 1, "new"),
        -1 if count is None else count,
    )


def _check_join_filter(value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    _check_join(_argument(args, kwargs, 0, "d") or "", value)


FilterCheck = Callable[[Any, tuple[Any, ...], Mapping[str, Any]], None]
# Checks run before a filter whose result can be far larger than its arguments.
_FILTER_CHECKS: dict[str, FilterCheck] = {
    "center": _check_size_argument,
    "indent": _check_indent,
    "format": _check_format_filter,
    "replace": _check_replace_filter,
    "join": _check_join_filter,
    "batch": _check_size_argument,
    "slice": _check_size_argument,
}


def _budgeted_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    value_index = 0 if _PassArg.from_obj(function) is None else 1
    measure = name in _TEXT_FILTERS
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(function)  # keeps jinja_pass_arg: Jinja passes the same arguments
    def apply(*args: Any, **kwargs: Any) -> Any:
        budget = _current.get()
        if budget is None:
            return function(*args, **kwargs)
        budget.steps -= 1
        if budget.steps < 0:
            budget.step(0)
        if len(args) > value_index:
            value = args[value_index]
            if type(value) in _SIZED:  # Budget.scan, inlined (the hot path)
                budget.built -= len(value)
                if budget.built < 0:
                    budget.scan(0)
            if measure and type(value) is not str and isinstance(value, _CONTAINERS):
                check_text(value, budget)
            if check is not None:
                check(value, args[value_index + 1 :], kwargs)
        result = function(*args, **kwargs)
        if type(result) in _SIZED:
            # Budget.build, inlined: filters are the hot path of an ordinary template.
            size = len(result)
            budget.built -= size
            if budget.built < 0 or size > MAX_VALUE:
                budget.built += size
                budget.build(size)
        return result

    return apply


class BudgetedSandbox(SandboxedEnvironment):
    """A SandboxedEnvironment whose renders spend the current Budget (see `start`)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("finalize", check_text)
        super().__init__(**options)
        self.filters = {name: _budgeted_filter(name, f) for name, f in self.filters.items()}
        self.tests["in"] = _in_test
        # lorem ipsum of any length is one call away otherwise; prompts have no use for it.
        self.globals.pop("lipsum", None)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        return _counted(super()._parse(source, name, filename))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%":
            check_percent_format(left)
            check_text(right)
        result = super().call_binop(context, operator, left, right)
        if operator in ("+", "%", "*"):
            budget = _current.get()
            if budget is not None:
                budget.build(_size(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if type(value) not in _METHOD_TYPES:  # called on every attribute read: be quick
            return None
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template = value.__self__

        @functools.wraps(wrapper)
        def checked(*args: Any, **kwargs: Any) -> str:
            check_brace_format(template)
            return wrapper(*args, **kwargs)

        return checked

    def call(  # noqa: N805 - Jinja's signature (the double underscores free the names)
        __self, __context: Context, __obj: Any, *args: Any, **kwargs: Any
    ) -> Any:
        if __obj in _INTERNAL:
            return __obj(*args)  # the budget's own hooks, put there by _Counted
        budget = _current.get()
        if budget is None:
            return SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        budget.step()
        if isinstance(__obj, LoopContext) and args:
            args = (loop_budget(args[0]), *args[1:])  # `loop(children)` in a recursive loop
        receiver = getattr(__obj, "__self__", None)
        budget.scan(_size(receiver))  # big.count("a"), big.split(), ...
        _check_method(__obj, args, kwargs)
        budget.depth += 1
        if budget.depth > MAX_DEPTH:
            raise BudgetExceeded(
                f"calls nested more than {MAX_DEPTH} deep (a macro calling itself without end?)"
            )
        try:
            result = SandboxedEnvironment.call(__self, __context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1
        budget.build(_size(result))
        if isinstance(receiver, (list, dict, set)):
            budget.build(len(receiver))  # l.extend(l) doubles a list per call
        return result
