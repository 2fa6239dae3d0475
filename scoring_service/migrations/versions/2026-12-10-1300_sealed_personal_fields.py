"""Personal fields sealed with SM4 (services.crypto): a case fact's submitter (whom to revisit)
and the kit's JSON payloads become TEXT. The rows are sealed by the background encryption
(services/encryption.py), not here.

Revision ID: e8b1d5c3a7f9
Revises: 8d4f2a6c1e35
Create Date: 2026-12-10 13:00:00
"""

from collections.abc import Sequence

import services.kit_migrations

revision: str = "e8b1d5c3a7f9"
down_revision: str | None = "8d4f2a6c1e35"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = (("case_fact", "submitter", False),)


def upgrade() -> None:
    services.kit_migrations.json_columns_to_sealed_text(_JSON)
    services.kit_migrations.json_columns_to_sealed_text()


def downgrade() -> None:
    services.kit_migrations.sealed_text_columns_to_json()
    services.kit_migrations.sealed_text_columns_to_json(_JSON)
