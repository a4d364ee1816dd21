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

_common = {
    "database": DirectoryBasedExampleDatabase(str(DB_PATH)),
    "deadline": None,  # time is measured and asserted by the tests, not per example on a shared machine
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    "print_blob": True,
}
settings.register_profile("quick", max_examples=60, **_common)
settings.register_profile("long", max_examples=10_000, **_common)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "quick")
settings.load_profile(PROFILE)


def examples(quick: int, long: int) -> int:
    """A test's number of examples in the current profile; ``CELLPIPE_FUZZ_EXAMPLES=N`` scales the long
    profile's counts to N for the compiler (N/10,000 of them for the other tests)."""
    override = os.environ.get("CELLPIPE_FUZZ_EXAMPLES")
    if override:
        return max(1, int(int(override) * long / 10_000))
    return long if PROFILE == "long" else quick
