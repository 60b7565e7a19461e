"""One small registry for everything named: pruning methods, sources, tasks, architectures.

Registration is by decorator or call, duplicates are refused, and an unknown name gets a
"did you mean" answer, so a typo in a config fails early with a useful message.

>>> methods = Registry[str]("method")
>>> methods.register("sparsegpt", "obs")
'obs'
>>> methods.get("sparsgpt")
Traceback (most recent call last):
...
calray.errors.CalrayError: unknown method 'sparsgpt'; did you mean 'sparsegpt'? (known: sparsegpt)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from calray.errors import CalrayError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and suggests close names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)
        if name in self._items:
            raise CalrayError(f"{self.kind} {name!r} is already registered; pick another name")
        self._items[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise CalrayError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._items), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(self._items)) or "none"
        if len(known) > 300:
            known = known[:300] + ", ..."
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)
