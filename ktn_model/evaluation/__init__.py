"""ktn_model.evaluation"""
