"""Errors of projects and the procedure catalogue: stable codes, Chinese first then English."""

from __future__ import annotations

from services.errors import BadRequest, Conflict, NotFound


class ProjectNotFound(NotFound):
    code = "project_not_found"
    message = "未找到该项目"
    message_en = "No such project"


class ProcedureNotFound(NotFound):
    code = "procedure_not_found"
    message = "未找到该事项"
    message_en = "No such procedure in the catalogue"


class ProcedureCodeTaken(Conflict):
    code = "procedure_code_taken"
    message = "事项编码已存在"
    message_en = "A procedure with this code already exists"


class UnknownPrerequisite(BadRequest):
    status_code = 422
    code = "unknown_prerequisite"
    message = "前置事项不存在"
    message_en = "A prerequisite names no procedure of the catalogue"


class PrerequisiteCycle(BadRequest):
    status_code = 422
    code = "prerequisite_cycle"
    message = "前置事项构成循环"
    message_en = "The prerequisites form a cycle"


class InvalidProcedureDocument(BadRequest):
    status_code = 422
    code = "invalid_procedure_document"
    message = "事项目录文件有误,未导入任何内容"
    message_en = "The catalogue document is invalid; nothing was imported"


class ResponsibleUnitInvalid(BadRequest):
    status_code = 422
    code = "responsible_unit_invalid"
    message = "责任部门不存在、已停用或不是职能部门"
    message_en = "The responsible unit does not exist, is inactive or is not a department"


class AreaUnitInvalid(BadRequest):
    status_code = 422
    code = "area_unit_invalid"
    message = "项目所在区域不存在或已停用"
    message_en = "The project's area unit does not exist or is inactive"


class CenterUnitInvalid(BadRequest):
    status_code = 422
    code = "center_unit_invalid"
    message = "责任中心不存在、已停用或不是营商环境优化中心"
    message_en = "The responsible center does not exist, is inactive or is not a center"


class AgentInvalid(BadRequest):
    status_code = 422
    code = "agent_invalid"
    message = "代办员不存在、已停用或不是中心工作人员"
    message_en = "The agent does not exist, is disabled or is not center staff"


class StageDatesOutOfOrder(BadRequest):
    status_code = 422
    code = "stage_dates_out_of_order"
    message = "各阶段的实际日期须按阶段先后排列"
    message_en = "Actual stage dates must follow the order of the stages"


class InvalidStageTransition(Conflict):
    code = "invalid_stage_transition"
    message = "项目阶段不能跳过或倒退"
    message_en = "A project's stage cannot skip a stage or go backwards"


class StageFinal(Conflict):
    code = "project_stage_final"
    message = "项目已建成投用或已终止,阶段不能再变更"
    message_en = "The project is completed or terminated; its stage is final"


class StageReasonRequired(BadRequest):
    status_code = 422
    code = "stage_reason_required"
    message = "暂停或终止项目须说明原因"
    message_en = "Pausing or terminating a project needs a reason"


# --- the agency plan ---------------------------------------------------------------------------


class StepNotFound(NotFound):
    code = "step_not_found"
    message = "未找到该代办事项"
    message_en = "No such step in this project's plan"


class StepProcedureInvalid(BadRequest):
    status_code = 422
    code = "step_procedure_invalid"
    message = "事项目录中没有该事项或该事项已停用"
    message_en = "The catalogue has no such procedure, or it is inactive"


class StepUnitMissing(BadRequest):
    status_code = 422
    code = "step_unit_missing"
    message = "该事项尚未指定责任部门,请在计划中指定"
    message_en = "The procedure has no responsible department yet: name one in the plan"


class StepLimitExceedsLegal(BadRequest):
    status_code = 422
    code = "step_limit_exceeds_legal"
    message = "承诺时限不能超过法定时限"
    message_en = "A step's working days cannot exceed the procedure's legal time limit"


class StepExists(Conflict):
    code = "step_exists"
    message = "该事项已在项目代办计划中"
    message_en = "The procedure is already in the project's plan"


class PrerequisitesPending(Conflict):
    code = "prerequisites_pending"
    message = "前置事项尚未办结,不能当场办结"
    message_en = "A step cannot be done on the spot before its prerequisites are done"


class ProjectNotActive(Conflict):
    code = "project_not_active"
    message = "项目已暂停、建成投用或终止,不能再安排代办事项"
    message_en = "The project is paused, completed or terminated: no steps can be added or sent"


class StepStateInvalid(Conflict):
    code = "step_state_invalid"
    message = "该代办事项当前状态不允许此操作"
    message_en = "The step's current state does not allow this"


class ProjectContactMissing(Conflict):
    code = "project_contact_missing"
    message = "项目未登记企业联系人电话,不能提交问题"
    message_en = "The project has no enterprise contact phone to raise a blocker for"
