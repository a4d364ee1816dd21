"""Hypothesis profiles and example database for the fuzz suite.

``quick`` (the default) keeps the normal pytest run short; ``long`` is the
10,000+ example campaign (``HYPOTHESIS_PROFILE=long``). Examples that made a
test fail are kept in a database outside the repository (tests never write
into it): ``$CELLPIPE_FUZZ_DB``, else ``~/.cache/cellpipe/hypothesis``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

DB_PATH = Path(os.environ.get("CELLPIPE_FUZZ_DB") or Path.home() / ".cache" / "cellpipe" / "hypothesis")

#: examples per test in each profile, scaled per test by ``scale`` (CLI and server examples cost more)
EXAMPLES = {"quick": 60, "long": 10_000}

_common = {
    "database": DirectoryBasedExampleDatabase(str(DB_PATH)),
    "deadline": None,  # time is measured and asserted by the tests, not per example on a shared machine
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    "print_blob": True,
}
settings.register_profile("quick", max_examples=EXAMPLES["quick"], **_common)
settings.register_profile("long", max_examples=EXAMPLES["long"], **_common)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
settings.load_profile(PROFILE)


def examples(scale: float = 1.0) -> int:
    """The number of examples a test runs in the current profile."""
    return max(5, int(EXAMPLES.get(PROFILE, EXAMPLES["quick"]) * scale))
