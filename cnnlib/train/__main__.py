"""``python -m cnnlib.train``: see :mod:`cnnlib.train.cli`."""

from cnnlib.train.cli import main

main()
