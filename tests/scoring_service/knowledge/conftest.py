from tests.scoring_service.projects.conftest import _empty_public_cache, frozen_now

__all__ = ["_empty_public_cache", "frozen_now"]
