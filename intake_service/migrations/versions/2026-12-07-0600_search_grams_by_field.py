"""issue.search_grams tagged with each field's relevance tier (0 title, 1 tracking number and
enterprise, 2 address, 3 description), so relevance pages read tier by tier
from the index; its statistics target 1000

Revision ID: 2b8f4d6a0c13
Revises: 4e6a8c0b2d91
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

from services.kit_migrations import rewrite_search_grams, set_gram_statistics

revision: str = "2b8f4d6a0c13"
down_revision: str | None = "4e6a8c0b2d91"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tiers as they were at this revision (the service's own constant may move on).
_TIERS = (("title",), ("tracking_no", "enterprise_name"), ("address",), ("description",))


def upgrade() -> None:
    set_gram_statistics("issue", 1000)
    rewrite_search_grams(
        "issue",
        _TIERS,
        tagged=True,
        protected_by=("anonymous", "confidential"),
        withheld="enterprise_name",
    )


def downgrade() -> None:
    set_gram_statistics("issue", -1)
    rewrite_search_grams(
        "issue",
        _TIERS,
        tagged=False,
        protected_by=("anonymous", "confidential"),
        withheld="enterprise_name",
    )
