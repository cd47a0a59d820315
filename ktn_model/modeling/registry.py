"""Registries: a config name -> the class or function that builds that variant (detectron2's ``Registry``).

Each variant is one file that registers itself under the name detectron2 or the KTN release gives it, e.g.::

    @PREDICTORS.register("DensePoseChartPredictor")
    class ChartPredictor(nn.Module): ...

and ``PREDICTORS.get(cfg.MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME)`` finds it. The registries are filled when
``ktn_model.modeling`` is imported (its ``__init__`` imports every variant module); a test file may register its
own variant the same way, without editing a library file.
"""

from __future__ import annotations

from collections.abc import Callable

from ktn_utils.registry import Registry, UnknownName  # noqa: F401  (UnknownName: raised by Registry.get)

BACKBONES: Registry[Callable] = Registry("MODEL.BACKBONE.NAME")
DENSEPOSE_HEADS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.NAME")
PREDICTORS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.PREDICTOR_NAME")
DENSEPOSE_LOSSES: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.LOSS_NAME")
DECODERS: Registry[Callable] = Registry("MODEL.ROI_DENSEPOSE_HEAD.DECODER_NAME")
