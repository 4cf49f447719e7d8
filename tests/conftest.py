"""Test-wide settings: hypothesis runs derandomized in CI, with a deeper profile on demand.

Profiles: ``ci`` (default; derandomized so a CI run is reproducible), ``dev`` (random,
fewer examples, for quick local runs) and ``long`` (deep, for soak runs). Select with
``HYPOTHESIS_PROFILE=long pytest``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
