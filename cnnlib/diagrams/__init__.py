"""Whole-network diagrams drawn from the models themselves (so they cannot drift from the code).

Presentation layer: the diagrams read a model's modules (through public names) and draw them with matplotlib in
the house style of :mod:`cnnlib.style`; they compute nothing the analysis layer does not already provide.
"""
