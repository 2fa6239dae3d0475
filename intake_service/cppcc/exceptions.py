"""Errors of the CPPCC "165" express API (stable codes, Chinese first)."""

from services.errors import BadRequest, Conflict, Forbidden, NotFound


class CppccChannelNotAllowed(Forbidden):
    code = "channel_not_allowed"
    message = "该 API 密钥无权使用165政协委员直通车接口"
    message_en = "This API key may not use the CPPCC 165 express channel"


class StationExists(Conflict):
    code = "station_exists"
    message = "同名联络站已存在"
    message_en = "A liaison station with this name already exists"


class StationNotFound(NotFound):
    """404 when addressed by URL; raised with ``status_code=422`` when named in a body."""

    code = "station_not_found"
    message = "联络站不存在"
    message_en = "No such liaison station"


class MemberNotFound(NotFound):
    """404 when addressed by URL; raised with ``status_code=422`` when named in a body."""

    code = "member_not_found"
    message = "政协委员不存在"
    message_en = "No such CPPCC member"


class VisitNotFound(NotFound):
    code = "visit_not_found"
    message = "走访记录不存在"
    message_en = "No such visit"


class ImportRejected(BadRequest):
    status_code = 422
    code = "import_rejected"
    message = "导入数据有误,未导入任何记录(详见 details 中的行号)"
    message_en = "The import has errors; nothing was imported (see the rows in details)"


class InvalidDateRange(BadRequest):
    status_code = 422
    code = "invalid_date_range"
    message = "起始日期不能晚于结束日期"
    message_en = "start must not be after end"


class MemberExists(Conflict):
    code = "member_exists"
    message = "该委员(姓名与电话相同)已登记"
    message_en = "A member with this name and phone is already registered"
