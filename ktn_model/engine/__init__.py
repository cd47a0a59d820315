"""ktn_model.engine"""
