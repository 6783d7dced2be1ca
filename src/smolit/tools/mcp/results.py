"""An MCP ``CallToolResult`` as a ``ToolResult``: data for the model, secrets masked.

- ``structuredContent`` (a JSON value), when the server sends it and the call did not
  fail, is the content: the text blocks beside it repeat it as text;
- otherwise the content blocks, one after another, as text: a text block as it is, an
  image or audio block as a placeholder (``[image/png, 2,048 bytes]``; the model cannot
  see it and the bytes are not kept), a resource link as its name and URI, an embedded
  resource as its URI and its text (or a placeholder for a binary one); no block at all
  is ``(no content)``;
- ``isError`` is the result's error flag.

Nothing in a result is followed or acted on: a resource link is not read, text is never
treated as an instruction. Every string has the known secret values masked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import mcp_types as types

from smolit.redact import mask_secrets
from smolit.tools.base import JsonValue, ToolResult

NO_CONTENT = "(no content)"


def _decoded_size(data: str) -> int:
    """Bytes of a base64 text, without decoding it."""
    text = data.strip()
    return max(0, len(text) * 3 // 4 - text[-2:].count("="))


def _placeholder(kind: str, mime_type: str | None, data: str) -> str:
    return f"[{mime_type or kind}, {_decoded_size(data):,} bytes]"


def _block_text(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return _placeholder("image", block.mime_type, block.data)
    if isinstance(block, types.AudioContent):
        return _placeholder("audio", block.mime_type, block.data)
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.name}: {block.uri}]"
    resource = block.resource
    if isinstance(resource, types.TextResourceContents):
        return f"[resource {resource.uri}]\n{resource.text}"
    return f"[resource {resource.uri}, {_placeholder('binary', resource.mime_type, resource.blob)}]"


def _masked(value: Any, known: Sequence[str]) -> JsonValue:
    if isinstance(value, str):
        return mask_secrets(value, known)
    if isinstance(value, list):
        return [_masked(item, known) for item in value]
    if isinstance(value, dict):
        return {mask_secrets(str(k), known): _masked(v, known) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_secrets(str(value), known)


def tool_result(result: types.CallToolResult, known: Sequence[str] = ()) -> ToolResult:
    """``result`` as a ``ToolResult``, with the values of ``known`` masked."""
    if result.structured_content is not None and not result.is_error:
        return ToolResult(_masked(result.structured_content, known))
    text = "\n".join(_block_text(block) for block in result.content) or NO_CONTENT
    return ToolResult(mask_secrets(text, known), is_error=result.is_error)
