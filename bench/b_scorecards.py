from bench.context import Context


async def run(ctx: Context) -> None:
    pass
