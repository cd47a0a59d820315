"""ktn_model.vis: pictures of DensePose predictions (``pictures.render``), drawn with matplotlib from numpy
arrays and the per-image output dicts; imports neither the model nor the engines."""
