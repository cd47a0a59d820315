"""ktn_model.vis: pictures of DensePose predictions (``pictures.render``, CSE vertex colours in ``vertex_colours``)
and the conditioning renders other programs consume (``conditioning``: dp_viridis, dp_parula), drawn from numpy
arrays and the per-image output dicts; imports neither the model nor the engines."""
