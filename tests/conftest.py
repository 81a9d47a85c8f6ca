"""Lets the test modules import the shared helpers in this folder (tests/state_dicts.py, tests/cifar_data.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
