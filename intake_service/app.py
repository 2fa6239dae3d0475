from fastapi import FastAPI

from intake_service.api import routers
from intake_service.issue.group import submission_groups
from intake_service.spec import spec
from services.app import create_service_app


def create_app() -> FastAPI:
    return create_service_app(
        spec,
        routers,
        title="Yingshang intake service (诉求受理)",
        description=(
            "Every channel — app, smart hall, hotline, reporting platform, CPPCC 165 express, "
            "Open311 clients — submits requests here and gets a tracking number at once."
        ),
        resources=submission_groups,
    )


app = create_app()
