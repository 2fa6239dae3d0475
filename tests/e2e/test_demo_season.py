"""The demo season reproduces the seed article's figures through the real APIs and workers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from services.db import AsyncSessionMaker
from services.demo import run_demo
from services.registry import get_spec
from tests.fixtures.processes import (
    ThrowawayRedis,
    api_argv,
    free_port,
    spawn,
    stop,
    wait_for_http,
    worker_argv,
)

pytestmark = pytest.mark.slow


async def test_the_seed_season(
    tmp_path: Path, routing_sessionmaker: AsyncSessionMaker, test_database: str
) -> None:
    from routing_service.department.bootstrap import bootstrap
    from services.cli import create_key

    admin = await asyncio.to_thread(bootstrap, test_database)
    assert admin is not None
    key = await asyncio.to_thread(create_key, get_spec("intake"), "demo", "*", test_database)
    redis = ThrowawayRedis()
    redis.start()
    ports = {name: free_port() for name in ("intake", "routing", "scoring")}
    env = {"REDIS_URL": redis.url, "LOG_LEVEL": "WARNING", **{f"{n.upper()}_URL": f"http://127.0.0.1:{p}" for n, p in ports.items()},
           **{f"{n.upper()}_OUTBOX_RELAY_SECONDS": "1" for n in ports}}  # fmt: skip
    processes = []
    try:
        for name, port in ports.items():
            processes.append(spawn(api_argv(name, port), env, tmp_path / f"{name}-api.log"))
            processes.append(spawn(worker_argv(name), env, tmp_path / f"{name}-worker.log"))
        for port in ports.values():
            await asyncio.to_thread(wait_for_http, f"http://127.0.0.1:{port}/healthz")
        credentials = {"api_key": key["api_key"], "admin": admin,
                       **{f"{n}_url": f"http://127.0.0.1:{p}" for n, p in ports.items()}}  # fmt: skip
        result = await run_demo(credentials)
    finally:
        for process in processes:
            stop(process)
        redis.stop()
    figures = result["statistics"]
    express = result["cppcc_summary"]
    projects = result["projects"]
    print(
        json.dumps(
            {
                k: figures[k]
                for k in (
                    "enterprises_visited",
                    "merchants_visited",
                    "issues_collected",
                    "resolved",
                    "in_progress",
                    "satisfaction_rate",
                    "service_items",
                )
            },
            ensure_ascii=False,
        )
    )
    print(json.dumps({k: v for k, v in projects.items() if k != "statistics"}, ensure_ascii=False))
    # Three channels together (三大主渠道).
    assert figures["enterprises_visited"] == 700
    assert figures["merchants_visited"] == 2226
    assert figures["issues_collected"] == 161
    assert figures["resolved"] == 150
    assert figures["in_progress"] == 11
    assert figures["satisfaction_rate"] > 0.96
    # Online: 1,258 items, all closed.
    assert figures["online"]["collected"] == 1258
    assert figures["online"]["resolved"] == 1258
    # The 165 express: 31 enterprises, 56 issues, 52 answered and closed.
    assert express["enterprises_visited"] == 31
    assert express["issues_collected"] == 56
    assert express["answered_closed"] == 52
    # 20 investment projects filed on the spot, among the service items.
    assert figures["service_items"] == 1258 - 20 + 20
    # 帮办代办: 19 provincial and city key projects; January to September 16 started, 31
    # continuing and 9 completed (each counted once: its earlier stages lie before the season).
    assert projects["season"]["start"].endswith("-01-01")
    assert projects["key_projects"] == 19
    assert projects["started"] == 16
    assert projects["continuing"] == 31
    assert projects["completed"] == 9
    served = projects["statistics"]["to_date"]["served"]
    assert served["total"] == 16 + 31 + 9 + 2 + 20
    assert {k: v for k, v in served["by_stage"].items() if v} == {
        "planned": 20, "signed": 2, "started": 16, "continuing": 31, "completed": 9,
    }  # fmt: skip
    # 20 investment filings done on the spot, among the steps the departments and the center did:
    # two for each other key project and three for 邯郸制药三期's land certificate.
    assert projects["done_on_spot"] == 20
    assert projects["steps_done"] == 20 + 18 * 2 + 3
    # 审批总时间缩短一半: the steps were promised in about half their legal limit and done within it.
    assert abs(projects["promised_vs_legal"]["ratio"] - 0.5) < 0.06
    assert projects["time_ratio"] is not None
    assert 0 <= projects["time_ratio"] <= 1
