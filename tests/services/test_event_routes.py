"""Every event type a service is sent has a handler in that service's worker: an unhandled type
is only logged and dropped (see services.inbox), which is how ``revisit.expired`` once went
unapplied."""

from __future__ import annotations

import pytest

from shared.events import EVENT_ROUTES


@pytest.mark.parametrize("queue", ["intake", "routing", "scoring"])
def test_every_routed_event_has_a_handler(queue: str) -> None:
    import importlib

    handlers = importlib.import_module(f"{queue}_service.worker").HANDLERS
    expected = {event_type for event_type, queues in EVENT_ROUTES.items() if queue in queues}
    assert expected - set(handlers) == set()
