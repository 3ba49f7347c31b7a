"""slack_sdk's SQLAlchemy installation and OAuth state stores, on peerbot's own database.

The tables are slack_sdk's own (built by its ``build_*_table`` class methods into
:data:`SLACK_METADATA`, created by migration 0011); the drift check compares them beside
peerbot's models. Used only with OAuth on (``SLACK_CLIENT_ID``).
"""

from __future__ import annotations

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

INSTALLATIONS_TABLE = SQLAlchemyInstallationStore.default_installations_table_name
BOTS_TABLE = SQLAlchemyInstallationStore.default_bots_table_name
OAUTH_STATES_TABLE = SQLAlchemyOAuthStateStore.default_table_name

#: The three tables exactly as slack_sdk defines them (for the drift check and tests).
SLACK_METADATA = MetaData()
SQLAlchemyInstallationStore.build_installations_table(SLACK_METADATA, INSTALLATIONS_TABLE)
SQLAlchemyInstallationStore.build_bots_table(SLACK_METADATA, BOTS_TABLE)
SQLAlchemyOAuthStateStore.build_oauth_states_table(SLACK_METADATA, OAUTH_STATES_TABLE)


def installation_store(engine: Engine, client_id: str) -> SQLAlchemyInstallationStore:
    """slack_sdk's installation store for app ``client_id`` on ``engine`` (tables migrated)."""
    return SQLAlchemyInstallationStore(client_id=client_id, engine=engine)


def oauth_state_store(engine: Engine, expiration_seconds: int = 600) -> SQLAlchemyOAuthStateStore:
    """slack_sdk's OAuth state store on ``engine``: one row per install started, used once."""
    return SQLAlchemyOAuthStateStore(expiration_seconds=expiration_seconds, engine=engine)
