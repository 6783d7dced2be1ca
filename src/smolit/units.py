"""Byte units, one name for each meaning.

Sizes of files and request bodies are counted in megabytes of 10^6 bytes
(``knowledge.max_file_mb``, ``knowledge.max_upload_mb``), memory budgets in mebibytes of
2^20 bytes (``models.max_memory_mb``, ``system.cache_size``).
"""

#: a megabyte: 10^6 bytes
MB = 1_000_000
#: a mebibyte: 2^20 bytes
MIB = 1024 * 1024
