"""Request front-ends that all compile to one V4 decision-block body: templates, the V5 ICT
configuration and trading sessions. The engine sees only V4."""

from .expand import expand_request

__all__ = ["expand_request"]
