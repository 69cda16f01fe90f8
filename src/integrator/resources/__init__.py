"""Resource types of the API: one module each; importing this package registers them all."""

from integrator.resources import (  # noqa: F401  (imported for their registration)
    connections,
    exports,
    flows,
    imports,
    others,
)
from integrator.resources.base import REGISTRY, ResourceType

__all__ = ["REGISTRY", "ResourceType"]
