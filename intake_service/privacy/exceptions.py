from services.errors import BadRequest, Conflict


class InvalidAccessReason(BadRequest):
    status_code = 422
    code = "invalid_access_reason"
    message = (
        "查阅理由(X-Access-Reason)须为 1–200 个字符,不含控制字符(非 ASCII 请按 UTF-8 百分号编码)"
    )
    message_en = (
        "X-Access-Reason must be 1–200 characters without control characters "
        "(UTF-8, percent-encoded when not ASCII)"
    )


class ErasureNotAllowed(Conflict):
    code = "erasure_not_allowed"
    message = "只有已撤回的诉求可以应提交人要求删除个人信息"
    message_en = "Personal data is erased on the submitter's request only once it is withdrawn"
