from intake_service.channel.endpoints import router as channel_router
from intake_service.cppcc.endpoints import router as cppcc_router
from intake_service.issue.endpoints import router as issue_router
from intake_service.issue.enterprise import router as enterprise_router
from intake_service.issue.raised import router as raised_router
from intake_service.issue.staff import router as staff_router
from intake_service.knowledge.endpoints import router as knowledge_router
from intake_service.open311.endpoints import router as open311_router
from intake_service.privacy.endpoints import router as privacy_router
from intake_service.project.endpoints import router as project_router

routers = [
    issue_router,
    staff_router,
    cppcc_router,
    open311_router,
    channel_router,
    enterprise_router,
    raised_router,
    project_router,
    knowledge_router,
    privacy_router,
]
