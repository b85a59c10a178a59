"""labtorch: a working, verified PyTorch GPU environment on every PC of a lab room."""

__version__ = "0.1.0"
