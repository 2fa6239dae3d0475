"""case.search_grams tagged with each field's relevance tier (0 title, 1 enterprise and
tracking number, 2 address, 3 description), so relevance pages read tier by tier
from the index; its statistics target 1000

Revision ID: 8d2a6c4e0f37
Revises: 7e4c2a9d5f18
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

from services.kit_migrations import rewrite_search_grams, set_gram_statistics

revision: str = "8d2a6c4e0f37"
down_revision: str | None = "7e4c2a9d5f18"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tiers as they were at this revision (the service's own constant may move on).
_TIERS = (("title",), ("enterprise_name", "tracking_no"), ("address",), ("description",))


def upgrade() -> None:
    set_gram_statistics("case", 1000)
    rewrite_search_grams("case", _TIERS, tagged=True)


def downgrade() -> None:
    set_gram_statistics("case", -1)
    rewrite_search_grams("case", _TIERS, tagged=False)
