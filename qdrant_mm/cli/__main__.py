"""``python -m qdrant_mm.cli``: the same as the ``qdrant-mm`` command."""

from qdrant_mm.cli import main

main()
