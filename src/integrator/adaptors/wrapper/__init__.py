"""The wrapper adaptor: connections whose ping, exports and imports are custom functions on a
stack or in a script (``type: "wrapper"``, reference §8.4).

Every call goes through ``Extensions`` (the hook runner bound to the caller) with
``kind="wrapper"``, so the function runs wherever the connection says::

    {"type": "wrapper", "wrapper": {"_stackId": "s1", "pingFunction": "ping",
     "unencrypted": {"shop": "acme"}, "encrypted": {"apiKey": "..."}}}

and reads ``options.connection`` (``{encrypted, unencrypted, _id}``) and the export's or import's
``wrapper.configuration``. ``ping.py`` tests the connection, ``export.py`` walks an export's
pages (``state`` round trips until ``lastPage``), ``imports.py`` sends mapped records.
"""

from integrator.adaptors.wrapper.calls import WrapperError, connection_options, wrapper_ref
from integrator.adaptors.wrapper.export import MAX_IDENTICAL_RESPONSES, export_pages
from integrator.adaptors.wrapper.imports import import_records
from integrator.adaptors.wrapper.ping import ping

__all__ = [
    "MAX_IDENTICAL_RESPONSES",
    "WrapperError",
    "connection_options",
    "export_pages",
    "import_records",
    "ping",
    "wrapper_ref",
]
