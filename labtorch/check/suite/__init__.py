"""The testinfra final-state suite, shipped so that ``labtorch check --testinfra`` works from a
wheel. Run with pytest (see conftest.py); the repository's tests/infra imports it."""
