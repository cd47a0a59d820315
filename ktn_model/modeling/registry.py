"""Registries: a config name -> the class or function that builds that variant (detectron2's ``Registry``).

Each variant is one file that registers itself under the name detectron2 or the KTN release gives it, e.g.::

    @PREDICTORS.register("DensePoseChartPredictor")
    class ChartPredictor(nn.Module): ...

and ``PREDICTORS.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME)`` finds it. The registries are filled when
``ktn_model.modeling`` is imported (its ``__init__`` imports every variant module); a test file may register its
own variant the same way, without editing a library file.
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


BACKBONES: Registry[Callable] = Registry("MODEL.BACKBONE.NAME")
DENSEPOSE_HEADS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.NAME")
PREDICTORS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME")
DENSEPOSE_LOSSES: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME")
DECODERS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME")
