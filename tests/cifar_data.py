"""Test helper: where the shared CIFAR-10 JPEG tarball lives, and the mark for the tests that read it.

The tarball sits next to the checkout (``../shared/data/cifar10-jpeg.tar.gz``) and is never copied into the repo.
On a developer's machine without it, the tests that need it are skipped; under CI (``CI=true``) they run anyway
and fail with cnnlib's "data not found" message, so that a CI machine without the data cannot pass silently.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TARBALL = REPO.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
#: Under CI (``CI=true``) a test whose data is missing must fail, never skip.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

needs_tarball = pytest.mark.skipif(
    not TARBALL.is_file() and not IN_CI,
    reason=f"the shared CIFAR-10 JPEG tarball is not at {TARBALL} (under CI=true these tests run and fail)",
)
