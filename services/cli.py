"""Admin command line: ``yingshang <command>`` (or ``python -m services.cli``).

migrate [--service NAME]                         run every service's migrations
api-key create --service intake --scope app --name "手机APP"   prints the key once
api-key list --service intake
api-key revoke --service intake KEY_ID_OR_PREFIX
encrypt [--service NAME]                         seal plaintext and re-wrap retired keys now
                                                 (the workers do it in the background)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from sqlalchemy import select

from services.api_keys import create_api_key, revoke_api_key
from services.db import create_engine, create_sessionmaker
from services.encryption import service_models, sweep
from services.migrations import upgrade
from services.models import utcnow
from services.registry import available_specs, get_spec
from services.spec import ServiceSpec
from shared.schemas.base import rfc3339


async def _create_key(
    spec: ServiceSpec, name: str, scope: str, url: str | None = None
) -> dict[str, str]:
    engine = create_engine(
        url or spec.settings.resolved_database_url(), schema=spec.name, pool_size=1
    )
    try:
        async with create_sessionmaker(engine)() as session:
            row, raw = await create_api_key(session, spec.api_key_model, name=name, scope=scope)
            await session.commit()
            return {
                "id": str(row.id),
                "prefix": row.prefix,
                "scope": scope,
                "name": name,
                "api_key": raw,
            }
    finally:
        await engine.dispose()


def create_key(spec: ServiceSpec, name: str, scope: str, url: str | None = None) -> dict[str, str]:
    return asyncio.run(_create_key(spec, name, scope, url))


async def _list_keys(spec: ServiceSpec) -> list[dict[str, str | None]]:
    engine = create_engine(spec.settings.resolved_database_url(), schema=spec.name, pool_size=1)
    model = spec.api_key_model
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.scalars(select(model).order_by(model.created_at))).all()
            return [
                {
                    "id": str(row.id),
                    "prefix": row.prefix,
                    "name": row.name,
                    "scope": row.scope,
                    "created_at": rfc3339(row.created_at),
                    "revoked_at": rfc3339(row.revoked_at) if row.revoked_at else None,
                }
                for row in rows
            ]
    finally:
        await engine.dispose()


async def _revoke_key(spec: ServiceSpec, key: str) -> int:
    engine = create_engine(spec.settings.resolved_database_url(), schema=spec.name, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            count = await revoke_api_key(session, spec.api_key_model, key)
            await session.commit()
            return count
    finally:
        await engine.dispose()


async def _encrypt(spec: ServiceSpec) -> dict[str, object]:
    """Run the background encryption to the end (after a key rotation, before removing the
    retired key from the ring)."""
    engine = create_engine(spec.settings.resolved_database_url(), schema=spec.name, pool_size=1)
    try:
        sessionmaker = create_sessionmaker(engine)
        total: dict[str, int] = {}
        unreadable = 0
        while True:
            counts = await sweep(sessionmaker, service_models(spec), run_seconds=60.0)
            unreadable += counts.unreadable
            for table, count in counts.tables.items():
                total[table] = total.get(table, 0) + count
            if not counts.sealed:
                return {"sealed": total, "unreadable": unreadable}
    finally:
        await engine.dispose()


async def _tallies(action: str, first: str | None, last: str | None) -> dict[str, object]:
    """Rebuild the evaluation's roll-ups from the facts, or check months against a recount."""
    from scoring_service.evaluation import tallies
    from scoring_service.evaluation.service import Month

    spec = get_spec("scoring")
    engine = create_engine(spec.settings.resolved_database_url(), schema=spec.name, pool_size=1)
    try:
        async with create_sessionmaker(engine)() as session:
            if action == "rebuild":
                return {"rebuilt": await tallies.rebuild(session)}
            this = str(Month.containing(utcnow()))
            months = tallies.month_range(first or this, last or first or this)
            drift = await tallies.check(session, months, repair=action == "repair")
            return {"months": [str(m) for m in months], "rows_differing": drift}
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="yingshang", description="Yingshang admin commands")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply migrations (alembic upgrade head)")
    migrate.add_argument("--service", action="append", help="only these services")

    api_key = commands.add_parser("api-key", help="manage API keys")
    key_commands = api_key.add_subparsers(dest="action", required=True)
    create = key_commands.add_parser("create")
    create.add_argument("--service", required=True)
    create.add_argument(
        "--scope", required=True, help="channel code (intake), unit code (routing), or *"
    )
    create.add_argument("--name", required=True)
    listing = key_commands.add_parser("list")
    listing.add_argument("--service", required=True)
    revoke = key_commands.add_parser("revoke")
    revoke.add_argument("--service", required=True)
    revoke.add_argument("key", help="key id or prefix")

    encrypt = commands.add_parser("encrypt", help="seal and re-wrap personal data now")
    encrypt.add_argument("--service", action="append", help="only these services")

    tally = commands.add_parser(
        "tallies", help="scoring's roll-ups: rebuild from the facts, or check/repair months"
    )
    tally.add_argument("action", choices=("rebuild", "check", "repair"))
    tally.add_argument("--from", dest="first", metavar="YYYY-MM", help="first month (check)")
    tally.add_argument("--to", dest="last", metavar="YYYY-MM", help="last month (check)")

    args = parser.parse_args(argv)
    if args.command == "tallies":
        outcome = asyncio.run(_tallies(args.action, args.first, args.last))
        print(json.dumps(outcome, ensure_ascii=False))  # noqa: T201
        return 1 if args.action == "check" and outcome.get("rows_differing") else 0
    if args.command == "encrypt":
        failed = False
        for spec in available_specs():
            if args.service and spec.name not in args.service:
                continue
            result = asyncio.run(_encrypt(spec))
            failed = failed or bool(result["unreadable"])
            print(spec.name, json.dumps(result, ensure_ascii=False))  # noqa: T201
        return 1 if failed else 0
    if args.command == "migrate":
        for spec in available_specs():
            if args.service and spec.name not in args.service:
                continue
            upgrade(spec)
            print(f"{spec.name}: migrated")  # noqa: T201
        return 0
    spec = get_spec(args.service)
    if args.action == "create":
        created = create_key(spec, args.name, args.scope)
        print(json.dumps(created, ensure_ascii=False, indent=2))  # noqa: T201
        print("The key is shown only once; store it now.", file=sys.stderr)  # noqa: T201
    elif args.action == "list":
        print(json.dumps(asyncio.run(_list_keys(spec)), ensure_ascii=False, indent=2))  # noqa: T201
    else:
        count = asyncio.run(_revoke_key(spec, args.key))
        print(f"revoked {count} key(s)")  # noqa: T201
        return 0 if count else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
