"""The ``rtag`` command line: main.py owns the app, one thin module per command."""
