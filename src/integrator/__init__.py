"""Integrator: a self-hostable integration platform speaking the integrator.io API."""

__version__ = "0.1.0"
