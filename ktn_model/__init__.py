"""ktn_model: the KTN DensePose network, DensePose-COCO data, training, evaluation and inference."""
