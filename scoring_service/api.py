from scoring_service.evaluation.endpoints import router as evaluation_router
from scoring_service.evaluation.endpoints import statistics_router
from scoring_service.feedback.endpoints import router as feedback_router
from scoring_service.feedback.enterprise import router as enterprise_router
from scoring_service.projects.endpoints import router as project_router

routers = [
    feedback_router,
    evaluation_router,
    statistics_router,
    enterprise_router,
    project_router,
]
