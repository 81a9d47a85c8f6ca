"""The book's trained networks in the reader's browser: ONNX exports (``export``) and the live view's HTML (``live``).

Presentation layer: it exports and shows what :mod:`cnnlib.analysis` and the shipped weights define.
"""
