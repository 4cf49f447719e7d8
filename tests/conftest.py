"""Test-wide settings: hypothesis runs derandomized in CI, with a deeper profile on demand.

Profiles: ``ci`` (default; derandomized so a CI run is reproducible), ``dev`` (random,
fewer examples, for quick local runs) and ``long`` (deep, for soak runs). Select with
``HYPOTHESIS_PROFILE=long pytest``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from mmfsm import native

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "long",
    max_examples=5_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The core's per-event modules run compiled when setup.py built them (mmfsm.native).
# A test that patches one of their functions or methods cannot run against machine code
# that bound them at build time: it is marked ``interpreted_core``, skipped here, and run
# by tests/test_builds.py in a second pytest over the interpreted sources.
COMPILED_CORE = native.build().startswith("compiled")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "interpreted_core: patches the core; runs against its interpreted sources",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not COMPILED_CORE:
        return
    skip = pytest.mark.skip(reason="patches the core: tests/test_builds.py runs it interpreted")
    for item in items:
        if "interpreted_core" in item.keywords:
            item.add_marker(skip)
