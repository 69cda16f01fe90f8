"""A fake SaaS HTTP app for tests and benchmarks; see README.md in this folder."""

from .saas import FakeSaas, make_records
from .server import LoggedRequest

__all__ = ["FakeSaas", "LoggedRequest", "make_records"]
