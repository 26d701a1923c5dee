"""The ``groklab`` command line."""
