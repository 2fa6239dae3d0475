from services.errors import BadRequest, Conflict, Forbidden, NotFound


class InvalidMonth(BadRequest):
    status_code = 422
    code = "invalid_month"
    message = "月份格式应为 YYYY-MM(如 2026-10)"
    message_en = "The month must be YYYY-MM (e.g. 2026-10)"


class InvalidYear(BadRequest):
    status_code = 422
    code = "invalid_year"
    message = "年份无效(应为 1970 至 2999 之间的四位数字)"
    message_en = "Invalid year (four digits, 1970 to 2999)"


class InvalidDateRange(BadRequest):
    status_code = 422
    code = "invalid_date_range"
    message = "结束日期不能早于开始日期"
    message_en = "The end date is before the start date"


class DateRangeTooLong(BadRequest):
    status_code = 422
    code = "date_range_too_long"
    message = "统计区间不能超过 3 年"
    message_en = "The date range may not exceed 3 years"


class UnitNotFound(NotFound):
    code = "unit_not_found"
    message = "未找到该单位(从未承办过督办卡)"
    message_en = "No such unit (it has never been given a supervision card)"


class OwnUnitOnly(Forbidden):
    code = "forbidden"
    message = "部门人员只能查看本单位的考核成绩"
    message_en = "Department staff may only read their own unit's scorecard"


class InvalidPolicy(BadRequest):
    status_code = 422
    code = "invalid_policy"
    message = "四项权重之和必须大于 0"
    message_en = "The four weights must not all be zero"


class MonthNotFinished(Conflict):
    code = "month_not_finished"
    message = "该月尚未结束,不能关账"
    message_en = "The month has not ended yet and cannot be closed"


class MonthAlreadyClosed(Conflict):
    code = "month_already_closed"
    message = "该月已关账;如需更正请重新计算并说明理由"
    message_en = "The month is already closed; recompute it with a reason to correct it"


class MonthNotClosed(Conflict):
    code = "month_not_closed"
    message = "该月尚未关账,考核成绩仍按实时数据计算"
    message_en = "The month is not closed; its scorecards are still computed live"


class ReasonRequired(BadRequest):
    status_code = 422
    code = "reason_required"
    message = "重新计算已关账月份须说明理由"
    message_en = "Recomputing a closed month requires a reason"
