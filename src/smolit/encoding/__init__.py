"""Text encoders, the lowest layer that knows about models: ``TextEncoder`` (base), the
sentence-transformers encoder (sentence) and quiet, serialised weight loading (loading).

Imported by the cache, the router and the knowledge base; imports nothing of smolit but
``smolit.errors``. The submodules are imported directly, so that importing one does not load
the others' dependencies.
"""
