"""Fixtures for the policy tests; the builders live in tests/policies/stacks.py."""

from __future__ import annotations

import pytest

from tests.policies.stacks import good_stack


@pytest.fixture
def stack() -> list[dict]:
    return good_stack()


@pytest.fixture
def bootstrap_stack() -> list[dict]:
    return good_stack(with_image=False)
