"""The packaged final-state suite's tests (labtorch/check/suite/test_final_state.py)."""

from labtorch.check.suite.test_final_state import *  # noqa: F403
