"""The pure core: notebooks in, a pipeline out.

Nothing here writes to disk, starts a kernel, opens the store or touches the
network: tags, the analysis of code (IPython syntax included), parameters, the
compiler passes, the graph, the emitted manifest and step notebooks, cache keys
and override parsing. The import contract (tests/test_layers.py) keeps it so.
"""
