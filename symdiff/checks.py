"""Argument checks shared by the public API.

Every check refuses a bad value with one message form, ``<name> must be <allowed>, got <value!r>``: it names the
argument, says what is allowed and shows the value. ``bool`` is a subclass of ``int`` in Python, but ``True`` is
never taken for an int or a number here; numpy integers are ints, and numpy floats are numbers.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

#: the time-signature denominators a meter may have
DENOMINATORS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


def must_be(name: str, allowed: str, value: Any) -> str:
    """The message of every check: ``"<name> must be <allowed>, got <value!r>"``."""
    return f"{name} must be {allowed}, got {value!r}"


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int or a numpy integer (and not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is an int, a float or a numpy number (and not a bool); it may be NaN or infinite."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_int(
    name: str,
    value: Any,
    low: int | None = None,
    high: int | None = None,
    *,
    allowed: str | None = None,
    error: type[Exception] = ValueError,
) -> int:
    """``value`` as an int when it is an int in ``low..high`` (a bound of None is no bound), else ``error``.

    ``allowed`` replaces the description the bounds give (``an int from 1 to 8``, ``an int >= 0``, ``an int``).
    """
    if not (is_int(value) and (low is None or value >= low) and (high is None or value <= high)):
        raise error(must_be(name, allowed or _describe("an int", low, high), value))
    return int(value)


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allowed: str | None = None,
    error: type[Exception] = ValueError,
) -> float:
    """``value`` as a float when it is a finite number from ``low`` to ``high``, else ``error``.

    A bound of None is no bound; ``low_open`` / ``high_open`` leave that bound itself out. ``allowed`` replaces the
    description the bounds give (``a number from 10 to 400``, ``a number > 0``, ``a number in [0, 1)``).
    """
    ok = is_number(value) and (is_int(value) or math.isfinite(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise error(must_be(name, allowed or _describe("a number", low, high, low_open, high_open), value))
    return float(value)


def check_bool(
    name: str,
    value: Any,
    *,
    optional: bool = False,
    allowed: str | None = None,
    error: type[Exception] = ValueError,
) -> bool | None:
    """``value`` when it is True or False (or None, with ``optional``), else ``error``."""
    if value is None and optional:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise error(must_be(name, allowed or ("True, False or None" if optional else "True or False"), value))
    return bool(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...], *, error: type[Exception] = ValueError) -> str:
    """``value`` when it is one of the strings ``choices``, else ``error``."""
    if not (isinstance(value, str) and value in choices):
        raise error(must_be(name, f"one of {', '.join(choices)}", value))
    return value


def check_instance(
    name: str,
    value: Any,
    kind: type | tuple[type, ...],
    allowed: str,
    *,
    optional: bool = False,
    error: type[Exception] = TypeError,
) -> Any:
    """``value`` when it is an instance of ``kind`` (or None, with ``optional``), else ``error``."""
    if not (isinstance(value, kind) or (optional and value is None)):
        raise error(must_be(name, allowed, value))
    return value


def check_path(name: str, value: Any, *, allowed: str = "a path (str)", error: type[Exception] = ValueError) -> str:
    """``value`` as a str when it is a str or an ``os.PathLike`` of one, else ``error``."""
    path = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(path, str):
        raise error(must_be(name, allowed, value))
    return path


def check_meter(time_signature: Any, name: str = "time_signature") -> tuple[int, int]:
    """``(numerator, denominator)`` from a pair with a numerator in 1..32 and a denominator in :data:`DENOMINATORS`."""
    ok = isinstance(time_signature, (tuple, list)) and len(time_signature) == 2
    if ok:
        numerator, denominator = time_signature
        ok = is_int(numerator) and 1 <= numerator <= 32 and is_int(denominator) and denominator in DENOMINATORS
    if not ok:
        raise ValueError(
            f"{name} must be (numerator 1..32, denominator in {DENOMINATORS}), e.g. (3, 4); got {time_signature!r}"
        )
    return int(time_signature[0]), int(time_signature[1])


def check_device(name: str, value: Any) -> Any:
    """``value`` as a ``torch.device`` when it names a device this machine has, else ValueError.

    ``"cuda"`` (or ``"cuda:1"``) without CUDA, or with fewer GPUs, and ``"mps"`` off Apple silicon are refused here,
    with what is available, rather than deep inside torch on the first tensor moved.
    """
    import torch  # lazily: the checks are imported by modules that do not need torch

    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(must_be(name, "a torch device such as cpu, cuda, cuda:1 or mps", value)) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"{name}: {value!r} asked for, but torch finds no CUDA GPU here; use cpu")
        if device.index is not None and device.index >= count:
            raise ValueError(must_be(name, f"cuda:0 .. cuda:{count - 1} (this machine has {count} GPU(s))", value))
    elif device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{name}: {value!r} asked for, but torch finds no MPS device here; use cpu")
    return device


def _describe(kind: str, low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    """``kind`` and its range in words: ``an int from 1 to 8``, ``a number > 0``, ``a number in [0, 1)``."""
    if low is not None and high is not None:
        if low_open or high_open:
            return f"{kind} in {'(' if low_open else '['}{_show(low)}, {_show(high)}{')' if high_open else ']'}"
        return f"{kind} from {_show(low)} to {_show(high)}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {_show(low)}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {_show(high)}"
    return kind


def _show(bound: float) -> str:
    """A bound as written: ints in full, floats without a trailing ``.0``."""
    return f"{bound:g}" if isinstance(bound, float) else str(bound)
