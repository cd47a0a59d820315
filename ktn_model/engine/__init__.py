"""ktn_model.engine: training (``Trainer``), checkpoints, torch.distributed launch, evaluation glue,
inference outputs and the demo.

- ``trainer.Trainer``: SGD + warm-up/multi-step LR, AMP on CUDA, NaN guard, checkpoints, metrics.
- ``checkpoint.Checkpointer``: atomic ``model_<iter>.pth`` files, the last K kept, exact resume.
- ``distributed.launch``: local workers (``--num-gpus``) or ``torchrun``; NCCL on GPU, gloo on CPU.
- ``evaluator.evaluate_model``: the model on DATASETS.TEST, scored with the official GPS/GPSm protocol.
- ``predictor.Predictor``: a trained model + its post-processing on one image (detectron2's resize).
- ``outputs``: ``ktn infer`` outputs (IUV/INDS PNGs, pictures, results.json).
- ``demo.run_demo``: ``ktn demo``.
"""
