"""The window desk's interface texts (窗口工作台), Chinese and English.

Served by the hub and by the township and county nodes alike, so the table travels with the
window pages' blueprint (:func:`shared.web.i18n.add_messages`) rather than with either app. Keys
start with ``win.``; the names of states, events, kinds of case and outcomes are looked up by
:func:`name_of`, which falls back to the code itself for one the table does not know (an
event type added later still shows).
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.case_events import EventType
from shared.domain.case_state import Status
from shared.web.i18n import Messages, t

MESSAGES: Messages = {
    "win.title": ("窗口工作台", "Window desk"),
    "win.queue": ("队列", "Queue"),
    "win.co_approval": ("待会签", "to co-approve"),
    "win.windows": ("窗口", "Windows"),
    "win.queue_title": ("待办队列", "Queue"),
    "win.done": ("已完成", "Done"),
    "win.open_cases": ("待办案件", "Open cases"),
    "win.first_by_deadline": ("按期限显示前 {n} 件", "first {n} by deadline"),
    "win.acceptance_no": ("受理编号", "Acceptance no."),
    "win.item": ("事项", "Item"),
    "win.kind": ("办件类型", "Kind"),
    "win.catalogue_version": ("受理时事项目录版本", "Catalogue version accepted under"),
    "win.catalogue_missing": ("本站缺少该版本,按最新版本办理", "not held here: decided by the "
                              "newest"),
    "win.state": ("状态", "State"),
    "win.claimed_by": ("认领人", "Claimed by"),
    "win.due": ("办结期限", "Due"),
    "win.days_left": ("剩余工作日", "Days left"),
    "win.overdue": ("超期", "overdue"),
    "win.overdue_days": ("超期 {n} 个工作日", "{n} working days overdue"),
    "win.left_days": ("剩余 {n} 个工作日", "{n} working days left"),
    "win.no_open_cases": ("没有待办案件", "No open cases"),
    "win.decision": ("决定", "Decision"),
    "win.result_pdf": ("办理结果 PDF", "Result document (PDF)"),
    "win.applicant": ("申请人", "Applicant"),
    "win.form": ("申请表", "Form"),
    "win.materials": ("材料", "Materials"),
    "win.view": ("查看", "View"),
    "win.none_uploaded": ("未上传材料", "None uploaded"),
    "win.missing": ("待补正材料", "Missing"),
    "win.actions": ("办理", "Actions"),
    "win.cards": ("亮牌", "Cards"),
    "win.procedure": ("特别程序", "Special procedure"),
    "win.procedure.hearing": ("听证", "Hearing"),
    "win.procedure.expert_review": ("专家评审", "Expert review"),
    "win.procedure.inspection": ("检验检测检疫", "Inspection"),
    "win.procedure.public_notice": ("公示", "Public notice"),
    "win.procedure_open": ("特别程序进行中，不计时",
                           "Special procedure under way: the clock is stopped"),
    "win.extension_pending": ("延期申请待审批", "Extension awaiting the head's decision"),
    "win.extension_granted": ("已批准延期", "Extension granted"),
    "win.extensions_pending": ("待审批的延期申请", "Extension requests awaiting your decision"),
    "win.no_extensions_pending": ("没有待审批的延期申请", "No extension request is waiting"),
    "win.days": ("工作日数", "Working days"),
    "win.rectification": ("差评整改", "Rectification"),
    "win.rectification.open": ("待整改答复", "Awaiting the department's answer"),
    "win.rectification.answered": ("已答复，待回访", "Answered, call-back due"),
    "win.rectification.closed": ("已回访办结", "Called back, closed"),
    "win.callback": ("回访结果", "Call-back"),
    "win.callback.satisfied": ("回访满意", "Satisfied"),
    "win.callback.not_satisfied": ("回访仍不满意", "Still dissatisfied"),
    "win.callback.unreachable": ("联系不上", "Not reached"),
    "win.callback_note": ("回访记录", "Call-back note"),
    "win.approve_extension": ("批准", "Approve"),
    "win.refuse_extension": ("不批准", "Refuse"),
    "win.card": ("牌", "Card"),
    "win.card.yellow_card": ("黄牌", "Yellow card"),
    "win.card.red_card": ("红牌", "Red card"),
    "win.card_status": ("状态", "Status"),
    "win.card_status.standing": ("有效", "Standing"),
    "win.card_status.appealed": ("申诉中", "Appealed"),
    "win.card_status.upheld": ("维持", "Upheld"),
    "win.card_status.withdrawn": ("撤销", "Withdrawn"),
    "win.appeal": ("申诉", "Appeal"),
    "win.appeal_reason": ("申诉理由", "Why the card is wrong"),
    "win.rule": ("裁定", "Rule"),
    "win.tick_missing": ("请一次性勾选全部所缺材料", "Tick every missing material in one notice"),
    "win.to_window": ("转至窗口", "To window"),
    "win.authority": ("决定机关", "Authority"),
    "win.outcome": ("决定", "Outcome"),
    "win.reference": ("文号", "Reference"),
    "win.assignee": ("改派给", "Assignee"),
    "win.reason": ("理由", "Reason"),
    "win.required": ("必填", "required"),
    "win.optional": ("可选", "optional"),
    "win.nothing_to_do": ("当前没有您可办理的操作", "Nothing for you to do now"),
    "win.history": ("办理记录", "History"),
    "win.time": ("时间", "Time"),
    "win.event": ("事件", "Event"),
    "win.actor": ("操作人", "Actor"),
    "win.origin": ("来源", "Origin"),
    "win.detail": ("说明", "Detail"),
    "win.yes": ("是", "yes"),
    "win.no": ("否", "no"),
    "win.due_on": ("期限", "due"),
    "win.lacks": ("缺", "missing"),
    "win.reason_is": ("理由:", "reason: "),
    "win.error": ("错误", "Error"),
    "win.refused_400": ("请检查", "Please check"),
    "win.refused_403": ("无权操作", "Not permitted"),
    "win.refused_404": ("未找到", "Not found"),
    "win.refused_409": ("案件状态不允许", "Conflict"),
    # the supervisor's bulk reassignment (a window's cases of an absent operator)
    "win.bulk_title": ("批量改派", "Reassign an absent operator's cases"),
    "win.bulk_hint": ("把本窗口由某人认领的全部案件改派给本窗口的另一位工作人员,每件记一条改派记录",
                      "Moves every case of this window claimed by one operator to another "
                      "operator of the window; each case records its own reassignment"),
    "win.bulk_from": ("原认领人", "From"),
    "win.bulk_to": ("改派给", "To"),
    "win.bulk_submit": ("全部改派", "Reassign all"),
    "win.bulk_done": ("已将 {n} 件由 {from_} 改派给 {to}", "{n} cases moved from {from_} to {to}"),
    "win.bulk_more": ("还有 {n} 件未改派,请再次提交", "{n} more remain: submit again"),
    "win.choose": ("请选择", "choose"),
    # kinds of case
    "win.kind.immediate": ("即办件", "immediate"),
    "win.kind.promised": ("承办件", "promised"),
    "win.kind.joint": ("联办件", "joint"),
    "win.kind.report_up": ("上报件", "reported up"),
    "win.kind.supplement": ("补办件", "supplement"),
    "win.kind.returned": ("退回件", "returned"),
    # outcomes
    "win.outcome.approved": ("准予", "Approved"),
    "win.outcome.rejected": ("不予", "Rejected"),
    "win.outcome.withdrawn": ("撤件", "Withdrawn"),
    # applicants
    "win.applicant.kind": ("类型", "Kind"),
    "win.applicant.name": ("姓名/名称", "Name"),
    "win.applicant.id_number": ("证件号码", "ID number"),
    "win.applicant.phone": ("电话", "Phone"),
    "win.applicant.uscc": ("统一社会信用代码", "Unified social credit code"),
    "win.applicant.legal_representative": ("法定代表人", "Legal representative"),
    "win.applicant.proxy": ("委托代理人", "Proxy"),
    "win.applicant.person": ("个人", "Person"),
    "win.applicant.company": ("单位", "Company"),
    # case states
    f"win.state.{Status.NEW}": ("新建", "New"),
    f"win.state.{Status.REGISTERED}": ("已登记", "Registered"),
    f"win.state.{Status.RECEIVED}": ("已接收", "Received"),
    f"win.state.{Status.ROUTED}": ("待受理", "Routed"),
    f"win.state.{Status.AWAITING_SUPPLEMENT}": ("待补正", "Awaiting supplement"),
    f"win.state.{Status.ACCEPTED}": ("已受理", "Accepted"),
    f"win.state.{Status.PAUSED_FOR_SUPPLEMENT}": ("补正中(暂停计时)",
                                                  "Paused for supplement"),
    f"win.state.{Status.REVIEWED}": ("已审核待核准", "Reviewed"),
    f"win.state.{Status.JOINT_APPROVAL}": ("联办会签中", "Joint approval"),
    f"win.state.{Status.REPORTED_UP}": ("已上报", "Reported up"),
    f"win.state.{Status.DECIDED}": ("已决定", "Decided"),
    f"win.state.{Status.RESULT_ISSUED}": ("已出具结果", "Result issued"),
    f"win.state.{Status.HANDED_OVER}": ("已送达", "Handed over"),
    f"win.state.{Status.WITHDRAWN}": ("已撤件", "Withdrawn"),
    # events
    f"win.event.{EventType.REGISTERED}": ("登记", "registered"),
    f"win.event.{EventType.MATERIAL_ADDED}": ("补充材料", "material added"),
    f"win.event.{EventType.REGISTRATION_CORRECTED}": ("更正登记", "registration corrected"),
    f"win.event.{EventType.WITHDRAWN}": ("撤件", "withdrawn"),
    f"win.event.{EventType.RECEIVED}": ("接收", "received"),
    f"win.event.{EventType.ROUTED}": ("分派窗口", "routed"),
    f"win.event.{EventType.TRANSFERRED}": ("转办", "transferred"),
    f"win.event.{EventType.CLAIMED}": ("认领", "claimed"),
    f"win.event.{EventType.CLAIM_RELEASED}": ("释放认领", "claim released"),
    f"win.event.{EventType.REASSIGNED}": ("改派", "reassigned"),
    f"win.event.{EventType.ACCEPTED}": ("受理", "accepted"),
    f"win.event.{EventType.COPIES_SENT}": ("抄告联办部门", "copies sent"),
    f"win.event.{EventType.SUPPLEMENT_REQUESTED}": ("一次性告知补正", "supplement requested"),
    f"win.event.{EventType.SUPPLEMENT_PROVIDED}": ("已补正", "supplement provided"),
    f"win.event.{EventType.REVIEWED}": ("审核通过(审)", "reviewed"),
    f"win.event.{EventType.CHECKED}": ("核准(核)", "checked"),
    f"win.event.{EventType.REJECTED}": ("退回", "rejected"),
    f"win.event.{EventType.REPORTED_UP}": ("上报", "reported up"),
    f"win.event.{EventType.EXTERNAL_DECISION_RECORDED}": ("登记上级决定",
                                                          "decision recorded"),
    f"win.event.{EventType.CO_APPROVED}": ("会签同意", "co-approved"),
    f"win.event.{EventType.OBJECTED}": ("会签异议", "objected"),
    f"win.event.{EventType.DEEMED_CONSENT}": ("缺席默许", "deemed consent"),
    f"win.event.{EventType.DEEMED_APPROVED}": ("超时许可", "deemed approved"),
    f"win.event.{EventType.RESULT_ISSUED}": ("出具结果", "result issued"),
    f"win.event.{EventType.RESULT_HANDED_OVER}": ("送达", "handed over"),
    f"win.event.{EventType.RATED}": ("评价", "rated"),
    f"win.event.{EventType.REFUSED}": ("拒收", "refused"),
}


def name_of(group: str, code: str) -> str:
    """The name of ``code`` in ``group`` (``state``, ``event``, ``kind``, ``outcome``,
    ``applicant``) in this request's language; the code itself when the table lacks it."""
    key = f"win.{group}.{code}"
    text = t(key)
    return code if text == key else text


EVENT_NAMES: Mapping[str, str] = {
    e.value: MESSAGES[f"win.event.{e}"][0] for e in EventType if f"win.event.{e}" in MESSAGES
}
"""The Chinese event names, for pages of sites that serve no window desk (a village's case
page shows them beside the codes)."""
