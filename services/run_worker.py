"""Run one service's arq worker: ``python -m services.run_worker intake``.

``--metrics-port``/``--metrics-host`` choose where its Prometheus metrics are served (default:
the service's ``<SERVICE>_WORKER_METRICS_PORT`` on every interface; ``python -m services``
passes a port of its own on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

import uvloop

from services.worker import run

SERVICES = ("intake", "routing", "scoring")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.run_worker", description="Run one service's worker"
    )
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve /metrics on this port (default <SERVICE>_WORKER_METRICS_PORT; 0 = off)",
    )
    parser.add_argument("--metrics-host", default="0.0.0.0", help="address to serve /metrics on")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"{args.service}_service.worker")
    # The APIs run on uvloop (uvicorn's default when installed); so do the workers, whose time
    # goes mostly into small socket round trips to PostgreSQL and Redis.
    uvloop.install()
    run(module.WorkerSettings, metrics_port=args.metrics_port, metrics_host=args.metrics_host)


if __name__ == "__main__":
    main()
