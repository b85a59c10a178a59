"""tests/infra runs the packaged testinfra suite (labtorch/check/suite): same options, fixtures.

    pytest tests/infra --inventory inventory/room-b204.py [-n 4]
"""

from labtorch.check.suite.conftest import *  # noqa: F403 (hooks and fixtures of the suite)
