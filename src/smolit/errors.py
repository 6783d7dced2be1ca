"""The one error hierarchy of Agent-NN.

Exceptions carry data and never log. The CLI and the API turn them into messages and
status codes at the edge (``smolit.api.errors`` and ``smolit.cli.output``).
"""

from __future__ import annotations

from typing import Any


class SmolitError(Exception):
    """Root of every error Agent-NN raises on purpose."""

    #: a short stable name used as ``error.type`` in API responses
    kind: str = "error"
    #: the HTTP status the API answers with
    http_status: int = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


# --- misuse: the caller can fix these ---------------------------------------------------


class ConfigError(SmolitError):
    """The configuration file or an environment override is invalid."""

    kind = "config_error"
    http_status = 500


class ValidationError(SmolitError):
    """An input value is invalid."""

    kind = "validation_error"
    http_status = 422


class NotFoundError(SmolitError):
    """A named thing (task, agent, model, token) does not exist."""

    kind = "not_found"
    http_status = 404


class ConflictError(SmolitError):
    """The request conflicts with the current state (duplicate name, finished task)."""

    kind = "conflict"
    http_status = 409


class AuthError(SmolitError):
    """Missing or invalid credentials."""

    kind = "unauthorized"
    http_status = 401


class PermissionDeniedError(SmolitError):
    """Valid credentials without the right to do this."""

    kind = "forbidden"
    http_status = 403


class EgressDeniedError(ValidationError):
    """An outbound request was refused by the egress policy (``security.egress_allow``)."""

    kind = "egress_denied"
    http_status = 422


class SecretNotAllowedError(ValidationError):
    """A secret was asked for by a name the operator has not allowlisted (``secrets:``)."""

    kind = "secret_not_allowed"
    http_status = 422


# --- runtime failures: something outside the caller's control --------------------------


class StorageError(SmolitError):
    """The database could not be reached or migrated."""

    kind = "storage_error"
    http_status = 503


class ModelError(SmolitError):
    """A model backend failed to load or to generate."""

    kind = "model_error"
    http_status = 502


class ModelLoadingDisabledError(ModelError):
    """Real model weights were asked for where loading is switched off (unit tests,
    ``smolit.model_guard``)."""

    kind = "model_loading_disabled"
    http_status = 500


class RoutingError(SmolitError):
    """The router could not make a decision."""

    kind = "routing_error"
    http_status = 500


class AgentUnavailableError(SmolitError):
    """The chosen agent cannot take work now (disabled, or its model cannot be loaded)."""

    kind = "agent_unavailable"
    http_status = 503


class KnowledgeError(SmolitError):
    """The knowledge base failed to store or search."""

    kind = "knowledge_error"
    http_status = 500


class KnowledgeFullError(KnowledgeError):
    """The knowledge base holds ``knowledge.max_documents`` documents already."""

    kind = "knowledge_full"
    http_status = 409
