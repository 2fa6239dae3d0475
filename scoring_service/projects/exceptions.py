from services.errors import Conflict, NotFound


class ProjectNotFound(NotFound):
    code = "project_not_found"
    message = "未找到该项目"
    message_en = "Project not found"


class MilestoneNotReached(Conflict):
    code = "project_milestone_not_reached"
    message = "该项目尚未到达此节点,暂不能评价"
    message_en = "The project has not reached this milestone yet and cannot be rated on it"


class ProjectAlreadyRated(Conflict):
    code = "project_already_rated"
    message = "该项目此节点已评价,不能以不同结果再次评价"
    message_en = "This project was already rated differently at this milestone"
