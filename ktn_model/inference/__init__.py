"""ktn_model.inference: a trained model on images and videos, and what ``ktn infer`` writes.

- ``pipeline``: ``Predictor`` (detectron2's resize, the network, the score filter, the post-processing) and
  loading a trained model with its config (``load_config``, ``build_trained_model``).
- ``early_filter``: the score filter applied before the DensePose branch.
- ``image_outputs``: one image's detections as the image-sized maps (IUV / INDS, confidences, CSE vertices;
  ``paste`` decides which detection owns a pixel) and as the official result dicts (``coco_results``, what the
  evaluation glue scores).
- ``inputs``: files, folders, globs and videos in; images read ahead in a background thread.
- ``video``: the one OpenCV video reader (``video_frames``) and writer (``annotate_video``: resumable segments
  joined with PyAV).
- ``writer``: ``InferenceRun`` and ``run``, the ``ktn infer`` outputs (PNGs, pictures, results.json); ``shards``
  splits and restarts runs, ``gpus`` runs one process per GPU.
- ``steady`` (``tracking``, ``smoothing``): persons kept and smoothed across video frames (``--steady``).
- ``iuv_stream``: ``predict_iuv``, (name, image, IUV, INDS) per image or video frame (texture, SMPL).
- ``defaults``: the defaults the CLIs show (torch-free).

Nothing here imports the training engine (``ktn_model.engine``); pictures come from ``ktn_model.vis``.
"""
