"""A name -> object registry filled by a decorator (detectron2's ``Registry``), shared by the model variants
(``ktn_model.modeling.registry``) and the dataset formats (``ktn_model.data.catalog``).

    FORMATS = Registry("dataset format")

    @FORMATS.register("densepose_coco")
    class DensePoseCocoDataset: ...

    FORMATS.get("densepose_coco")  # the class; an unknown name is one line listing the registered ones
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A config names a variant nobody registered (the message lists the registered names)."""


class Registry(Generic[T]):
    """Name -> object, filled by ``@registry.register(name, ...)``; ``key`` is the config key it serves."""

    def __init__(self, key: str):
        self.key = key
        self._items: dict[str, T] = {}

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator: register the object under each of ``names`` (default: its ``__name__``)."""

        def add(obj: T) -> T:
            for name in names or (obj.__name__,):
                if name in self._items and self._items[name] is not obj:
                    raise ValueError(f"{self.key}: {name!r} is registered twice")
                self._items[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            raise UnknownName(f"{self.key} {name!r} is not registered; registered: {', '.join(sorted(self._items))}")
        return self._items[name]

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests that register a variant of their own)."""
        self._items.pop(name)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
