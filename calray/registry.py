"""One small registry for everything named: pruning methods, sources, tasks, architectures.

Registration is by decorator or call, duplicates are refused, and an unknown name gets a
"did you mean" answer, so a typo in a config fails early with a useful message. A group of
names can be registered lazily (``defer``): the toy world's sources, tasks and map cost
nothing until a ``toy:`` name is looked up.

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
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, overload

from calray.errors import CalrayError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and suggests close names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._deferred: dict[str, Callable[[], object]] = {}
        # Held while a deferred group loads: a thread looking a name up meanwhile (the pool
        # serves requests in threads) waits for the whole group instead of missing it.
        self._loading = threading.RLock()
        self._in_progress: set[str] = set()

    def defer(self, prefix: str, load: Callable[[], object]) -> None:
        """Let ``load`` register every name starting with ``prefix``, the first time such a
        name (or the whole list) is asked for, or one of them is registered or removed."""
        self._deferred[prefix] = load

    def _load_deferred(self, name: str | None = None) -> None:
        if not self._deferred:  # a group stays here until it has loaded, so this never skips one loading
            return
        with self._loading:
            for prefix in [p for p in self._deferred if (name is None or name.startswith(p)) and p not in self._in_progress]:
                self._in_progress.add(prefix)  # its own register() calls must not load it again
                try:
                    self._deferred[prefix]()
                finally:
                    self._in_progress.discard(prefix)
                del self._deferred[prefix]  # only once loaded: a failed load is tried again

    def snapshot(self) -> tuple[dict[str, T], dict[str, Callable[[], object]]]:
        """The registered and deferred names, for ``restore`` (tests that register their own)."""
        return dict(self._items), dict(self._deferred)

    def restore(self, state: tuple[dict[str, T], dict[str, Callable[[], object]]]) -> None:
        items, deferred = state
        self._items, self._deferred = dict(items), dict(deferred)

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T) -> T: ...

    def register(self, name: str, obj: T | None = None) -> T | Callable[[T], T]:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)
        self._load_deferred(name)
        if name in self._items:
            raise CalrayError(f"{self.kind} {name!r} is already registered; pick another name")
        self._items[name] = obj
        return obj

    def unregister(self, name: str) -> None:
        self._load_deferred(name)
        self._items.pop(name, None)

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load_deferred(name)
        try:
            return self._items[name]
        except KeyError:
            raise CalrayError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        self._load_deferred()
        close = difflib.get_close_matches(name, list(self._items), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(self._items)) or "none"
        if len(known) > 300:
            known = known[:300] + ", ..."
        return f"unknown {self.kind} {name!r}{hint} (known: {known})"

    def names(self) -> list[str]:
        self._load_deferred()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load_deferred()
        return iter(sorted(self._items.items()))

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._items:
            self._load_deferred(name)
        return name in self._items

    def __len__(self) -> int:
        self._load_deferred()
        return len(self._items)
