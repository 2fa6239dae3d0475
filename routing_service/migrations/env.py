from alembic import context

from routing_service.spec import spec
from services.migrations import run_env

run_env(context, spec)
