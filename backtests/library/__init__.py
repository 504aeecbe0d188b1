"""The strategy library: users' saved strategies and their immutable versions.

``services`` writes (create, new version, rename, delete, copy a template, import),
``selectors`` reads (lists with filters, a strategy's versions, runs and batches), ``diff`` the
JSON Patch between two versions, ``transfer`` the export/import file. A body is validated on save
by the one request compiler (``backtests.strategies.compile.request_compile``), so a saved
strategy is refused with the same 400 as the same body submitted.
"""
