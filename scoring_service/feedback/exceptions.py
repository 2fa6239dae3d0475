from services.errors import Conflict, NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"
    message = "未找到该工单"
    message_en = "Case not found"


class RatingNotFound(NotFound):
    code = "rating_not_found"
    message = "未找到该测评"
    message_en = "Rating not found"


class NotReadyForRating(Conflict):
    code = "case_not_completed"
    message = "该诉求尚未办结,暂不能评价"
    message_en = "The case is not completed yet and cannot be rated"


class AlreadyRated(Conflict):
    code = "already_rated"
    message = "该诉求本轮已评价,不能以不同结果再次评价"
    message_en = "This case was already rated differently in this round"


class AnonymousPlatformOnly(Conflict):
    code = "anonymous_platform_only"
    message = "匿名诉求只能通过平台反馈和评价"
    message_en = "Anonymous requests are fed back and rated only through the platform"


class RedoNotAllowed(Conflict):
    code = "redo_not_allowed"
    message = "仅对因承办单位原因不满意的测评可发回重办"
    message_en = "Only an unsatisfied rating for reasons on the unit's side can order a redo"
