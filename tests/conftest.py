"""Shared test setup: internal faults are raised, not contained, so bugs fail loudly."""

import os

os.environ["AUTOBOT_APM_STRICT"] = "1"
