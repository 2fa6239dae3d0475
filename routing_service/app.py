from fastapi import FastAPI

from routing_service.api import routers
from routing_service.spec import spec
from services.app import create_service_app
from services.openapi import register_webhook_events
from shared.webhooks import DEPARTMENT_EVENTS


def create_app() -> FastAPI:
    app = create_service_app(
        spec,
        routers,
        title="Yingshang routing service (核查·派单·督办)",
        description=(
            "Verification of requests, dispatch to the responsible units, supervision cards "
            "(督办卡) with working-day deadlines, the supervision ladder, department webhooks and "
            "the hash-chained history."
        ),
    )
    # The events it sends to department systems, in the OpenAPI webhooks section.
    register_webhook_events(app, DEPARTMENT_EVENTS, tag="webhook events", audience="department")
    return app


app = create_app()
