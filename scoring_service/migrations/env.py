from alembic import context

from scoring_service.spec import spec
from services.migrations import run_env

run_env(context, spec)
