"""Code shared by the dispatcher and the job.

Standard library only: the dispatcher image imports this package and must stay
free of polars, catboost and numerapi.
"""
