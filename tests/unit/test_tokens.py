from pathlib import Path

import pytest

from smolit.errors import AuthError, ValidationError
from smolit.security.tokens import TokenService
from smolit.storage import ApiTokenRow, Database


@pytest.fixture
def tokens(database_url: str) -> TokenService:
    database = Database(database_url)
    database.migrate()
    return TokenService(database)


def test_created_token_authenticates_as_its_user(tokens: TokenService) -> None:
    issued = tokens.create("alice")
    principal = tokens.authenticate(issued.secret)
    assert (principal.user, principal.role) == ("alice", "user")


def test_only_the_hash_is_stored(tokens: TokenService) -> None:
    issued = tokens.create("alice")
    stored = [row.token_hash for row in tokens.list()]
    assert issued.secret not in stored
    assert len(stored[0]) == 64


def test_wrong_token_is_refused(tokens: TokenService) -> None:
    tokens.create("alice")
    with pytest.raises(AuthError):
        tokens.authenticate("snn_not-a-token")


def test_revoked_token_is_refused(tokens: TokenService) -> None:
    issued = tokens.create("alice")
    tokens.revoke(issued.id)
    with pytest.raises(AuthError, match="revoked"):
        tokens.authenticate(issued.secret)


def test_first_admin_is_created_once(tokens: TokenService) -> None:
    first = tokens.ensure_admin()
    assert first is not None and first.role == "admin"
    assert tokens.ensure_admin() is None


def test_invalid_user_name_is_refused(tokens: TokenService) -> None:
    with pytest.raises(ValidationError):
        tokens.create("bad user!")


def test_token_rows_have_no_plain_secret_column(tmp_path: Path) -> None:
    assert "secret" not in ApiTokenRow.__table__.columns
