"""Tools for testing and demonstrating qdrant-mm without a model hub; not used by the library.

:mod:`qdrant_mm.testing.random_models` builds random-weight models from configs for the test
suite, the offline quick start and the benchmarks.
"""
