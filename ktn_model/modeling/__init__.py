"""ktn_model.modeling"""
