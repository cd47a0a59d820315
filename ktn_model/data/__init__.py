"""ktn_model.data"""
