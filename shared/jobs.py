"""Names of arq jobs that cross service boundaries."""

QUEUE_INTAKE = "intake"
QUEUE_ROUTING = "routing"
QUEUE_SCORING = "scoring"
QUEUES = (QUEUE_INTAKE, QUEUE_ROUTING, QUEUE_SCORING)


def handle_event_job(queue: str) -> str:
    """The job each service's worker registers to consume events from its queue."""
    return f"{queue}.handle_event"
