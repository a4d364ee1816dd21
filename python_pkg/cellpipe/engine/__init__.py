"""Everything that touches the world: project files, the store, kernels, runs.

The engine builds on :mod:`cellpipe.core` and never imports a face
(:mod:`cellpipe.cli`, :mod:`cellpipe.server`).
"""
