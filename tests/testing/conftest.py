"""Fixtures shared by the tests of the fakes themselves."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def client(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The root ``http`` client (no proxy from the environment): these tests speak raw HTTP to a fake."""
    return http
