"""Parse a plain command line for a Typer command without building Typer's parameter machinery.

Why: the challenge starts ``umedsam-predict`` once per case, and Typer 0.29 builds a pydantic
``TypeAdapter`` for every parameter when it parses a command line. Importing pydantic and
``typer._adapters`` for that costs 0.05 s per case on a 2-vCPU Xeon and 0.12 s on a 2-vCPU AMD
EPYC (``python -X importtime``; benchmarks/native_floor_2026-12-03.md), more than the parsing of
a dozen options is worth.

:func:`parse` reads the command's own ``typer.Option`` declarations (flags, defaults, types), so the
options are defined once, in the command. It handles only the plain cases: options whose type is
``str``, ``int``, ``float``, ``Path`` or ``bool`` (``--x/--no-x`` flags included), optionally
``Optional``, declared with no validation, callback or environment variable, given as ``--opt
value`` or ``--opt=value``. Anything else (``--help``, an unknown or repeated option, a value that
does not convert, a missing required option, an argument) returns None, and the caller hands the
command line to Typer, which prints its usual help or error. ``tests/cli/test_fast_args.py`` checks
that both give the same values.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Optional

from typer.models import OptionInfo

_TYPES = (str, int, float, Path, bool)
#: OptionInfo attributes that make Typer do more than convert the value (their neutral values)
_PLAIN = {"callback": None, "envvar": None, "exists": False, "resolve_path": False, "is_eager": False,
          "count": False, "min": None, "max": None, "prompt": False, "parser": None, "click_type": None}


def _base_type(hint: Any) -> type | None:
    """``X`` for ``X`` or ``Optional[X]`` when X is one of the plain types, else None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Union and len(args) == 1:
        hint = args[0]
    return hint if hint in _TYPES else None


def _declarations(command: Callable[..., Any]) -> tuple[dict[str, tuple[str, Any]], dict[str, Any], set[str]] | None:
    """(flag -> (parameter, type or the bool it sets), defaults, required parameters), or None."""
    flags: dict[str, tuple[str, Any]] = {}
    defaults: dict[str, Any] = {}
    required: set[str] = set()
    hints = typing.get_type_hints(command)
    for name, param in inspect.signature(command).parameters.items():
        info = param.default
        base = _base_type(hints.get(name))
        if not isinstance(info, OptionInfo) or base is None:
            return None
        if any(getattr(info, attr, neutral) not in (neutral, None) for attr, neutral in _PLAIN.items()):
            return None
        if info.default is ...:
            required.add(name)
        elif info.default is None:
            defaults[name] = None
        else:  # Typer converts defaults too (1024 for a float option is 1024.0)
            defaults[name] = base(info.default)
        decls = info.param_decls or (f"--{name.replace('_', '-')}",)
        for decl in decls:
            if base is bool:
                on, _, off = decl.partition("/")
                flags[on.strip()] = (name, True)
                if off:
                    flags[off.strip()] = (name, False)
            else:
                flags[decl] = (name, base)
    return flags, defaults, required


def parse(command: Callable[..., Any], argv: list[str]) -> Optional[dict[str, Any]]:
    """Keyword arguments for ``command`` from ``argv``, or None when Typer should parse ``argv``."""
    declared = _declarations(command)
    if declared is None:
        return None
    flags, kwargs, required = declared
    seen: set[str] = set()
    i = 0
    while i < len(argv):
        token, value = argv[i], None
        if token.startswith("--") and "=" in token:
            token, value = token.split("=", 1)
        if token not in flags:
            return None  # --help, an unknown option, an argument
        name, kind = flags[token]
        if name in seen:
            return None  # Typer keeps the last one; rare enough to leave to it
        seen.add(name)
        if isinstance(kind, bool):
            if value is not None:
                return None
            kwargs[name] = kind
        else:
            if value is None:
                if i + 1 >= len(argv):
                    return None
                i += 1
                value = argv[i]
            try:
                kwargs[name] = kind(value)
            except ValueError:
                return None
        i += 1
    if not required <= seen:
        return None
    return kwargs
