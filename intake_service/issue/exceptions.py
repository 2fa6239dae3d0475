from services.errors import BadRequest, Conflict, Forbidden, NotFound


class IssueNotFound(NotFound):
    code = "request_not_found"
    message = "未找到该诉求,或验证信息不匹配"
    message_en = "No such request, or the ownership check failed"


class ChannelNotAllowed(Forbidden):
    code = "channel_not_allowed"
    message = "该 API 密钥无权以此渠道提交"
    message_en = "This API key may not submit on this channel"


class AttachmentNotFound(BadRequest):
    status_code = 422
    code = "attachment_not_found"
    message = "附件不存在或已被使用"
    message_en = "Attachment upload not found or already used"


class IssueClosed(Conflict):
    code = "request_closed"
    message = "该诉求已办结、撤回或不予受理,不能再操作"
    message_en = "The request is finished, withdrawn or rejected"


class UnsupportedUpload(BadRequest):
    status_code = 415
    code = "unsupported_upload_type"
    message = "不支持的附件类型(支持 JPEG/PNG/GIF/WebP 图片、PDF、MP4、MP3)"
    message_en = "Unsupported attachment type (JPEG/PNG/GIF/WebP, PDF, MP4, MP3)"


class UploadTooLarge(BadRequest):
    status_code = 413
    code = "upload_too_large"
    message = "附件过大"
    message_en = "Attachment too large"
