"""Fixtures shared by the tests of the fakes themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A plain HTTP client, no proxy from the environment: the tests speak raw HTTP to a fake."""
    async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
        yield http
