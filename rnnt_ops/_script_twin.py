"""Keyword-only options that TorchScript can still compile.

The losses take their options after ``reduction`` by keyword only, so that
no positional call written for k2 or fast_rnnt (which disagree on what
follows ``reduction``) can mean something else here. TorchScript rejects
keyword-only parameters with defaults, so each such function has a twin
with the same parameters, all positional-or-keyword, and is marked so that
``torch.jit.script`` (of the function itself, or of a function or module
that calls it) compiles the twin instead. The mark is the attribute pair
``torch.jit.script`` follows for ``torch.jit._script_if_tracing`` wrappers.
"""

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def scripts_as(twin: Callable) -> Callable[[F], F]:
    """Decorator: ``torch.jit.script`` compiles ``twin`` for the decorated
    function (whose Python calls are unaffected)."""

    def mark(fn: F) -> F:
        # TorchScript names the compiled function after the marked one but
        # reads its definition from the twin: the two names must agree.
        twin.__name__ = fn.__name__
        setattr(fn, "__script_if_tracing_wrapper", True)
        setattr(fn, "__original_fn", twin)
        return fn

    return mark
