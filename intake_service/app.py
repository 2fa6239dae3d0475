from fastapi import FastAPI

from intake_service.api import routers
from intake_service.issue.group import submission_groups
from intake_service.spec import spec
from services.app import create_service_app
from services.openapi import register_webhook_events
from shared.webhooks import CHANNEL_EVENTS


def create_app() -> FastAPI:
    app = create_service_app(
        spec,
        routers,
        title="Yingshang intake service (诉求受理)",
        description=(
            "Every channel — app, smart hall, hotline, reporting platform, CPPCC 165 express, "
            "Open311 clients — submits requests here and gets a tracking number at once."
        ),
        resources=submission_groups,
    )
    # What channel backends receive, in the OpenAPI webhooks section.
    register_webhook_events(
        app, CHANNEL_EVENTS, tag="channel notification events", audience="channel"
    )
    return app


app = create_app()
