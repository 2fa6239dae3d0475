from routing_service.assignment.endpoints import router as assignment_router
from routing_service.deadline.endpoints import router as deadline_router
from routing_service.department.endpoints import router as department_router
from routing_service.enterprise.endpoints import router as enterprise_router
from routing_service.knowledge.endpoints import router as knowledge_router
from routing_service.project.endpoints import router as project_router
from routing_service.radar.endpoints import router as radar_router
from routing_service.webhook.endpoints import router as webhook_router
from routing_service.worklist.endpoints import router as worklist_router

routers = [
    department_router,
    worklist_router,
    assignment_router,
    deadline_router,
    webhook_router,
    enterprise_router,
    project_router,
    radar_router,
    knowledge_router,
]
