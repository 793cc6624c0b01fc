"""The package's version, in one place (``bioplaus.__version__``, the reproduction report, stored runs)."""

__version__ = "0.1.0"
