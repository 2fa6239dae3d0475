from services.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceError, Unauthorized


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "用户名或密码错误,或账号已停用"
    message_en = "Wrong username or password, or the account is disabled"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": "Bearer"})


class LoginLocked(ServiceError):
    """Too many failed sign-ins for the username or from the address: refused, whatever the
    password, until ``Retry-After`` has passed."""

    status_code = 429
    code = "login_locked"
    message = "登录失败次数过多,已暂时锁定,请稍后再试"
    message_en = "Too many failed sign-ins: locked for a while, try again later"


class WeakPassword(BadRequest):
    status_code = 422
    code = "weak_password"
    message = "密码不符合安全要求"
    message_en = "The password does not meet the password policy"


class WrongCurrentPassword(BadRequest):
    status_code = 422
    code = "wrong_current_password"
    message = "当前密码不正确"
    message_en = "The current password is wrong"


class SessionExpired(Unauthorized):
    code = "session_expired"
    message = "登录会话已超过最长时限,请重新登录"
    message_en = "The session has reached its maximum age: sign in again"


class UnsupportedGrantType(BadRequest):
    code = "unsupported_grant_type"
    message = "仅支持 password 授权方式"
    message_en = "Only the password grant is supported"


class UnsupportedMediaType(BadRequest):
    status_code = 415
    code = "unsupported_media_type"
    message = "不支持的内容类型"
    message_en = "Unsupported content type"


class DocumentTooLarge(BadRequest):
    status_code = 413
    code = "document_too_large"
    message = "文件过大"
    message_en = "Document too large"


class UnitNotFound(NotFound):
    code = "unit_not_found"
    message = "未找到该机构"
    message_en = "No such org unit"


class UnitCodeTaken(Conflict):
    code = "unit_code_taken"
    message = "机构编码已存在"
    message_en = "An org unit with this code already exists"


class DistrictExists(Conflict):
    code = "district_exists"
    message = "已存在区级中心,只能有一个根机构"
    message_en = "A district center already exists; there is exactly one root"


class InvalidUnitParent(BadRequest):
    status_code = 422
    code = "invalid_unit_parent"
    message = "上级机构不符合层级规则"
    message_en = "The parent unit does not fit the tier rules"


class UnitInactive(Conflict):
    code = "unit_inactive"
    message = "该机构已停用"
    message_en = "The org unit is inactive"


class UnitInUse(Conflict):
    code = "unit_in_use"
    message = "该机构仍有在用的下级机构、人员或派单规则,不能停用"
    message_en = "The unit still has active child units, staff or dispatch rules"


class StaffNotFound(NotFound):
    code = "staff_not_found"
    message = "未找到该人员"
    message_en = "No such staff user"


class UsernameTaken(Conflict):
    code = "username_taken"
    message = "用户名已存在"
    message_en = "This username is taken"


class RoleUnitMismatch(BadRequest):
    status_code = 422
    code = "role_unit_mismatch"
    message = "该角色不能设在此类机构"
    message_en = "This role does not fit the unit's kind"


class LastAdmin(Conflict):
    code = "last_admin"
    message = "不能停用或降级最后一个系统管理员"
    message_en = "Cannot disable or demote the last active admin"


class ApiKeyNotAllowed(BadRequest):
    status_code = 422
    code = "api_key_not_allowed"
    message = "只有职能部门可以申请 API 密钥"
    message_en = "Only functional departments may hold API keys"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    message = "未找到该 API 密钥"
    message_en = "No such API key for this unit"


class ApiKeyForbidden(Forbidden):
    code = "forbidden"
    message = "只有系统管理员或本部门负责人可以管理部门 API 密钥"
    message_en = "Only an admin or the department's head may manage its API keys"


class DispatchRuleNotFound(NotFound):
    code = "dispatch_rule_not_found"
    message = "未找到该派单规则"
    message_en = "No such dispatch rule"


class DispatchRuleExists(Conflict):
    code = "dispatch_rule_exists"
    message = "相同主题、区域和承办单位的派单规则已存在"
    message_en = "A rule for this topic, area and unit already exists"


class InvalidDispatchRule(BadRequest):
    status_code = 422
    code = "invalid_dispatch_rule"
    message = "派单规则无效"
    message_en = "Invalid dispatch rule"


class UnknownTopic(BadRequest):
    status_code = 422
    code = "unknown_topic"
    message = "未知的诉求主题"
    message_en = "Unknown topic"


class InvalidOrgDocument(BadRequest):
    status_code = 422
    code = "invalid_org_document"
    message = "机构文件校验失败,未导入任何内容"
    message_en = "The org document is invalid; nothing was imported"


class UnknownUnit(BadRequest):
    status_code = 422
    code = "unknown_unit"
    message = "引用的机构不存在"
    message_en = "The referenced org unit does not exist"
