from services.errors import BadRequest, Conflict, NotFound


class CaseNotFound(NotFound):
    code = "case_not_found"
    message = "工单不存在或不在您的管辖范围内"
    message_en = "Case not found or outside your scope"


class CardNotFound(NotFound):
    code = "card_not_found"
    message = "督办卡不存在或不属于您的单位"
    message_en = "Card not found or not your unit's"


class UnitNotFound(BadRequest):
    status_code = 422
    code = "unit_not_found"
    message = "单位不存在或已停用"
    message_en = "Unit not found or inactive"


class IllegalTransition(Conflict):
    code = "illegal_transition"
    message = "当前状态不允许此操作"
    message_en = "This action is not allowed in the current state"

    def __init__(self, action: str, status: str) -> None:
        super().__init__(
            f"当前状态({status})不允许{action}",
            f"Cannot {action} in status {status}",
            details={"action": action, "status": status},
        )


class ReturnWindowClosed(Conflict):
    code = "return_window_closed"
    message = "已超过派单后 2 个工作日的退单时限"
    message_en = "Returns are only allowed within 2 working days of dispatch"


class DesignationRequired(Conflict):
    code = "designation_required"
    message = "该工单已退回 2 次,中心须指定主办单位(designate=true),不得再退单"
    message_en = "Returned twice: the center must designate a lead unit (designate=true)"


class CardDesignated(Conflict):
    code = "card_designated"
    message = "中心指定承办的督办卡不能退回"
    message_en = "A card designated by the center cannot be returned"


class ExtensionNotAllowed(Conflict):
    code = "extension_not_allowed"
    message = "延期申请须在到期前提出,且每张督办卡仅限一次、不超过原办理时限"
    message_en = "Extensions: before the due time, once per card, at most the original limit"


class SelfApproval(Conflict):
    code = "self_approval"
    message = "不能审批自己提出的延期申请"
    message_en = "You cannot approve your own extension request"


class CoInputsPending(Conflict):
    code = "co_inputs_pending"
    message = "协办单位尚未全部提交办理意见,主办单位暂不能办结"
    message_en = "The lead cannot complete before every co-handler has submitted its input"


class InvalidDispatch(BadRequest):
    status_code = 422
    code = "invalid_dispatch"
    message = "派单无效:多部门件须有且仅有一个主办单位,单位不得重复"
    message_en = "Invalid dispatch: exactly one lead for multi-unit cases, no unit twice"


class MergeTargetInvalid(BadRequest):
    status_code = 422
    code = "merge_target_invalid"
    message = "合并目标工单不存在或已结束"
    message_en = "The case to merge into does not exist or is finished"


class RedoNotAllowed(Conflict):
    code = "redo_not_allowed"
    message = "仅已办结且评价为不满意(承办单位原因)的工单可发回重办"
    message_en = "Only completed cases rated unsatisfied for the unit's reasons can be redone"
