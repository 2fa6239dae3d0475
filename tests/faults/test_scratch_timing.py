import asyncio, time, os
from pathlib import Path
import pytest
from tests.faults.harness import Burst, Dispatcher, Driver, FaultStack, Report, audit, check_invariants, settle

N = int(os.environ.get("SCRATCH_N", "300"))

@pytest.mark.slow
async def test_timing(tmp_path: Path) -> None:
    t0 = time.monotonic()
    stack = FaultStack(tmp_path)
    await stack.start()
    print("startup", time.monotonic() - t0)
    try:
        burst = Burst(stack, Driver(), N, concurrency=int(os.environ.get("SC_C","8")))
        dispatcher = Dispatcher(stack, Driver(), concurrency=int(os.environ.get("SC_D","4")))
        d = asyncio.create_task(dispatcher.run())
        await burst.run_all()
        print("burst", burst.elapsed, "dispatched so far", len(dispatcher.dispatched))
        state = await settle(stack, burst, dispatcher, 300)
        await d
        print("settled", time.monotonic() - t0)
        broken = await audit(stack)
        print("audited", time.monotonic() - t0)
        report = Report("timing", burst, dispatcher, stack, state, broken, t0)
        print(report.line())
        import os as _os
        tick = _os.sysconf("SC_CLK_TCK")
        for name, proc in [*[(k+"-api", v) for k, v in stack.apis.items()], *[(k+"-worker", v) for k, v in stack.workers.items()]]:
            f = open(f"/proc/{proc.pid}/stat").read().split(")")[1].split()
            print(name, (int(f[11]) + int(f[12])) / tick)
        print("self", sum(_os.times()[:2]))
        check_invariants(report)
    finally:
        await stack.close()
