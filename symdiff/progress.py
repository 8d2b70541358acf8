"""Progress bars for long work: tqdm when asked for, a silent stand-in otherwise."""

from __future__ import annotations

from typing import Any


class _Silent:
    """The part of tqdm's interface symdiff uses, doing nothing."""

    def update(self, n: int = 1) -> None: ...

    def set_postfix(self, **values: Any) -> None: ...

    def close(self) -> None: ...


def progress_bar(total: int, enabled: bool, description: str, unit: str, initial: int = 0) -> Any:
    """A tqdm bar over ``total`` units (starting at ``initial``), or a silent one when ``enabled`` is false."""
    if not enabled:
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, unit=unit)
