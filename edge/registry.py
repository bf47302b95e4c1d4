"""Named registries: decoders, capture sources, accelerators, converter sources and targets (and apps) are each picked
by a name from a card or a config, so each kind keeps one `Registry` and its members register themselves.

Members may also be named lazily by module (`lazy`): the module is imported the first time the name is asked for, so
a device never imports what it does not use (picamera2 off a Pi, TensorFlow for a converter source)."""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from edge.errors import EdgekitError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, fix: str = "use one of: {known}"):
        self.kind = kind  # what a member is, for the error line ("decoder", "accelerator", ...)
        self.fix = fix
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}  # name -> "module" or "module:attribute", imported on first get

    def register(self, name: str, item: T | None = None):
        """`registry.register("cpu", CpuAccelerator)`, or as a decorator: `@registry.register("cpu")`."""
        if item is not None:
            self._items[name] = item
            return item

        def decorate(obj: T) -> T:
            self._items[name] = obj
            return obj

        return decorate

    def lazy(self, name: str, target: str) -> None:
        """Name a member by where it lives ("pkg.module" or "pkg.module:attr"); imported when first asked for."""
        self._lazy[name] = target

    def names(self) -> list[str]:
        return sorted({*self._items, *self._lazy})

    def __contains__(self, name: str) -> bool:
        return name in self._items or name in self._lazy

    def get(self, name: str) -> T:
        if name not in self._items and name in self._lazy:
            module, _, attr = self._lazy[name].partition(":")
            loaded = importlib.import_module(module)
            if name not in self._items:  # a module that does not register itself is the member (or holds it)
                self._items[name] = getattr(loaded, attr) if attr else loaded
        if name not in self._items:
            raise EdgekitError(f"{self.kind} '{name}' is unknown", self.fix.format(known=", ".join(self.names())))
        return self._items[name]
