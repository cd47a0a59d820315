"""detectron2's DensePose model zoo by name (docs/pretrained.md, "Model zoo"): the catalog (``catalog``) and the
checked, resumable download into a local cache (``cache``, ``download``)."""
