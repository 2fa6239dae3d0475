"""Errors of the radar: stable codes, Chinese first then English."""

from __future__ import annotations

from services.errors import BadRequest, Conflict, NotFound


class HotIssueNotFound(NotFound):
    code = "hot_issue_not_found"
    message = "未找到该热点问题"
    message_en = "No such cluster on the radar"


class CaseNotClusterable(NotFound):
    code = "case_not_found"
    message = "未找到该诉求"
    message_en = "No such request in your scope"


class AlreadyClustered(Conflict):
    code = "already_clustered"
    message = "该诉求已归入另一个热点问题(或其主动治理工单)"
    message_en = "The request is already in another cluster (and its proactive case)"


class ClusterMismatch(BadRequest):
    status_code = 422
    code = "cluster_mismatch"
    message = "诉求的问题类别或所在街道与该热点问题不同"
    message_en = "The request's topic or street differs from the cluster's"


class ProactiveExists(Conflict):
    code = "proactive_case_exists"
    message = "该热点问题已有主动治理工单"
    message_en = "The cluster already has a proactive case"


class ProactiveNotAllowed(BadRequest):
    status_code = 422
    code = "proactive_classification_invalid"
    message = "主动治理工单不能按违规问题分类(违规问题须移交纪委监委)"
    message_en = "A proactive case cannot be classified as a violation"


class ThemeTaken(Conflict):
    code = "theme_taken"
    message = "该街道本月已确定“每月一题”"
    message_en = "This area already has its theme for the month"


class ClusterResolved(Conflict):
    code = "hot_issue_resolved"
    message = "该热点问题已解决"
    message_en = "The cluster is resolved"
