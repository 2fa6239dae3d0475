"""Run one service's arq worker: ``python -m services.run_worker intake``."""

from __future__ import annotations

import importlib
import sys

import uvloop
from arq.worker import run_worker


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m services.run_worker <intake|routing|scoring>")
    module = importlib.import_module(f"{sys.argv[1]}_service.worker")
    # The APIs run on uvloop (uvicorn's default when installed); so do the workers, whose time
    # goes mostly into small socket round trips to PostgreSQL and Redis.
    uvloop.install()
    run_worker(module.WorkerSettings)


if __name__ == "__main__":
    main()
