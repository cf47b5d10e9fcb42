"""The application: the ``fieldnet`` command line, its verbs, the pipeline and the report.

The only layer that composes the engine, training, the simulations and the analysis.
"""
