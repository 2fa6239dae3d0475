from fastapi import FastAPI

from scoring_service.api import routers
from scoring_service.spec import spec
from services.app import create_service_app


def create_app() -> FastAPI:
    return create_service_app(
        spec,
        routers,
        title="Yingshang scoring service (反馈·测评·考核)",
        description=(
            "Feedback through the original channel, revisits and satisfaction ratings, redo "
            "orders, and the units' monthly scorecards, rankings and year-end evaluation."
        ),
    )


app = create_app()
