from services.errors import BadRequest, Conflict, NotFound


class ArticleNotFound(NotFound):
    code = "article_not_found"
    message = "未找到该知识库文章,或已撤回、已过期"
    message_en = "No such published knowledge article (or it was withdrawn or has expired)"


class ArticleNotCitable(BadRequest):
    status_code = 422
    code = "article_not_citable"
    message = "该知识库文章未发布、已撤回或不在有效期内,不能引用"
    message_en = "The article is not published, was withdrawn or is not valid today"


class NotAConsultation(BadRequest):
    status_code = 422
    code = "not_a_consultation"
    message = "只有咨询类诉求可以由知识库解答"
    message_en = "Only a consultation can be answered from the knowledge base"


class AlreadyAnswered(Conflict):
    code = "already_answered_by_knowledge"
    message = "该诉求已由另一篇知识库文章解答"
    message_en = "The request was already answered by another knowledge article"


class RequestPastAnswering(Conflict):
    code = "request_not_answerable"
    message = "该诉求已进入办理或已办结,不能再由知识库解答"
    message_en = (
        "The request is past verification: it can no longer be answered from the knowledge base"
    )
