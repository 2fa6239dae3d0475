from services.errors import NotFound, ServiceUnavailable


class ProjectNotFound(NotFound):
    code = "project_not_found"
    message = "未找到该项目,或查询密码不正确"
    message_en = "No such project, or the tracking secret is wrong"


class ProjectTrackingUnavailable(ServiceUnavailable):
    message = "项目进度暂时无法查询,请稍后再试"
    message_en = "Project progress is unavailable (the routing service cannot be reached)"


class ProjectRatingUnavailable(ServiceUnavailable):
    message = "评价服务暂不可用,请稍后再试"
    message_en = "The rating service is unavailable"
