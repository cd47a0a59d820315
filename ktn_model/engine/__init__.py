"""ktn_model.engine: training (``Trainer``), checkpoints, torch.distributed launch and the evaluation glue.

- ``trainer.Trainer``: SGD + warm-up/multi-step LR, AMP on CUDA, NaN guard, checkpoints, metrics.
- ``solver``: the optimizer and the LR schedule; ``events``: metrics.jsonl and TensorBoard.
- ``checkpoint.Checkpointer``: atomic ``model_<iter>.pth`` files, the last K kept, exact resume.
- ``distributed.launch``: local workers (``--num-gpus``) or ``torchrun``; NCCL on GPU, gloo on CPU.
- ``runner``: what ``ktn train`` runs (checks before the first iteration, resume rules, worker entry points).
- ``evaluator.evaluate_model``: the model on DATASETS.TEST, scored with the official GPS/GPSm protocol.
- ``inpaint``: a teacher's dense pseudo-labels for a student's training (``ktn inpaint``).

Inference (``Predictor``, the ``ktn infer`` writer) is ``ktn_model.inference``, pictures ``ktn_model.vis``, the
demo ``ktn_model.demo``.
"""
