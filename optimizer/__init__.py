"""PharmaTwin optimisation: benchmark readers, shop scheduling and the Pyomo solver layer.

Submodules are imported on demand so that reading an instance does not load Pyomo.
"""
