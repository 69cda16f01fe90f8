"""Mapper 1.0: turn a source record into the document an import sends (reference §4.5).

``compile_import(import_doc)`` (or ``compile_mapping(mapping, lookups)``) once per import, then
``mapper.map(record)`` per record; ``map_records`` does both for one page. Nothing here does I/O:
dynamic lookups go through the ``LookupProvider`` the caller passes. See docs/mapping.md.
"""

from integrator.mapping.dates import format_moment, parse_moment
from integrator.mapping.lookups import LookupFailure, LookupProvider
from integrator.mapping.mapper import (
    Mapper,
    MapResult,
    Operation,
    compile_import,
    compile_mapping,
    map_records,
)

__all__ = [
    "LookupFailure",
    "LookupProvider",
    "MapResult",
    "Mapper",
    "Operation",
    "compile_import",
    "compile_mapping",
    "format_moment",
    "map_records",
    "parse_moment",
]
