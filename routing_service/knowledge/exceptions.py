"""Errors of the knowledge base: stable codes, Chinese first then English."""

from __future__ import annotations

from services.errors import BadRequest, Conflict, Forbidden, NotFound


class ArticleNotFound(NotFound):
    code = "article_not_found"
    message = "未找到该知识库条目"
    message_en = "No such knowledge article"


class VersionNotFound(NotFound):
    code = "article_version_not_found"
    message = "未找到该条目的这一版本"
    message_en = "The article has no such version"


class ArticleUnitNotFound(BadRequest):
    status_code = 422
    code = "article_unit_not_found"
    message = "所属单位不存在或已停用"
    message_en = "The owning unit does not exist or is inactive"


class ArticleUnitNotDepartment(BadRequest):
    status_code = 422
    code = "article_unit_not_department"
    message = "知识库条目须归属一个职能部门"
    message_en = "An article is owned by a functional department"


class ArticleOutOfScope(Forbidden):
    code = "article_out_of_scope"
    message = "只能编写、审核本单位(本辖区)部门的知识库条目"
    message_en = "You may write or review the articles of your own unit's departments only"


class ArticleDatesOutOfOrder(BadRequest):
    status_code = 422
    code = "article_dates_out_of_order"
    message = "有效期截止日期不能早于起始日期"
    message_en = "valid_until cannot be before valid_from"


class ArticleInReview(Conflict):
    code = "article_in_review"
    message = "该版本正在审核中,不能修改;请等待审核结果"
    message_en = "The version is in review and cannot be edited until it is reviewed"


class ArticleNotDraft(Conflict):
    code = "article_not_draft"
    message = "只有草稿可以提交审核"
    message_en = "Only a draft can be submitted for review"


class ArticleNotInReview(Conflict):
    code = "article_not_in_review"
    message = "该版本未提交审核,不能审核"
    message_en = "The version is not submitted for review"


class ArticleSelfApproval(Forbidden):
    code = "article_self_approval"
    message = "不能审核通过自己编写的版本"
    message_en = "You may not approve a version you wrote"


class ArticleAlreadyWithdrawn(Conflict):
    code = "article_already_withdrawn"
    message = "该条目已撤回"
    message_en = "The article is already withdrawn"


class ArticleNotPublished(Conflict):
    code = "article_not_published"
    message = "该条目尚未发布,无需撤回"
    message_en = "The article has no published version to withdraw"


class ArticleNotCitable(BadRequest):
    status_code = 422
    code = "article_not_citable"
    message = "所引用的知识库条目未发布、已撤回或不在有效期内"
    message_en = "The cited article is not published, is withdrawn or is not valid today"
