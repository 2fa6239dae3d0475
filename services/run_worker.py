"""Run one service's arq worker: ``python -m services.run_worker intake``."""

from __future__ import annotations

import importlib
import sys

import uvloop

from services.worker import run


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m services.run_worker <intake|routing|scoring>")
    module = importlib.import_module(f"{sys.argv[1]}_service.worker")
    # The APIs run on uvloop (uvicorn's default when installed); so do the workers, whose time
    # goes mostly into small socket round trips to PostgreSQL and Redis.
    uvloop.install()
    run(module.WorkerSettings)


if __name__ == "__main__":
    main()
