"""Sweeps: grids over a framing's keys crossed with seeds, trained as tasks on Dask.

params.py (the ``sweeps:`` section), execution.py (the Dask tasks), results.py (tables,
summary, the answer), figures.py (the report), tracking.py (MLflow parent and child runs).
"""
