"""Chinese by default, English with ``?lang=en`` (remembered in a cookie).

Flask-Babel picks the locale and formats dates in Asia/Shanghai; the node's interface texts
are a small table here, looked up with ``t(key)`` in templates and views, so the node needs
no compiled message catalogues on a village PC.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, Response, request
from flask_babel import Babel, get_locale

from shared.working_days import due_day

LANGUAGES = ("zh", "en")
COOKIE = "lang"

MESSAGES: dict[str, tuple[str, str]] = {
    "app_title": ("三级政务服务 · 代办点", "Sanji service point"),
    "nav_intake": ("登记", "Register"),
    "nav_cases": ("案件", "Cases"),
    "nav_transfer": ("移交清单", "Hand-over list"),
    "nav_status": ("进度查询", "Status"),
    "other_lang": ("English", "中文"),
    "pick_item": ("选择事项", "Choose a service item"),
    "search_hint": ("名称、编码或拼音首字母", "name, code or pinyin initials"),
    "search": ("查找", "Search"),
    "no_items": ("没有找到事项", "No item found"),
    "days": ("个工作日", "working days"),
    "immediate": ("即办", "on the spot"),
    "applicant": ("申请人", "Applicant"),
    "person": ("个人", "Person"),
    "company": ("企业", "Company"),
    "name": ("姓名", "Name"),
    "id_number": ("身份证号码", "ID number"),
    "phone": ("手机号码", "Mobile phone"),
    "company_name": ("企业名称", "Company name"),
    "uscc": ("统一社会信用代码", "Unified social credit code"),
    "legal_rep": ("法定代表人", "Legal representative"),
    "proxy": ("委托代理人(可选)", "Proxy (optional)"),
    "read_card": ("读身份证", "Read ID card"),
    "card_read": ("已读取身份证", "ID card read"),
    "no_card": ("读卡器上没有身份证", "No card on the reader"),
    "form": ("申请表", "Application form"),
    "materials": ("申请材料", "Materials"),
    "required": ("必填", "required"),
    "optional": ("可选", "optional"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "choose": ("请选择", "choose"),
    "delivery": ("送达方式", "Delivery"),
    "delivery_village": ("村代办点领取", "collect at the village"),
    "delivery_window": ("窗口领取", "collect at the window"),
    "delivery_courier": ("快递送达", "by courier"),
    "submit": ("登记并打印回执", "Register and print receipt"),
    "fix_errors": ("请改正标出的内容", "Please correct the marked fields"),
    "reattach": ("如有附件请重新选择文件", "Choose the files again if any"),
    "registered_ok": ("登记成功", "Registered"),
    "acceptance_no": ("受理编号", "Acceptance no."),
    "query_code": ("查询码", "Query code"),
    "receipt_a4": ("打印回执 (A4)", "Print receipt (A4)"),
    "receipt_80": ("打印回执 (80毫米)", "Print receipt (80 mm)"),
    "cases": ("案件", "Cases"),
    "all": ("全部", "all"),
    "item": ("事项", "Item"),
    "stage": ("进度", "Stage"),
    "registered_at": ("登记时间", "Registered"),
    "no_cases": ("还没有案件", "No cases yet"),
    "more": ("更多", "More"),
    "events": ("办理记录", "History"),
    "event_at": ("时间", "Time"),
    "event_type": ("事件", "Event"),
    "event_actor": ("操作人", "By"),
    "event_origin": ("站点", "Site"),
    "add_material": ("补充材料", "Add material"),
    "upload": ("上传", "Upload"),
    "handover": ("结果转交", "Hand the result over"),
    "handover_method": ("方式", "Method"),
    "method_in_person": ("本人领取", "in person"),
    "method_proxy": ("代领", "by a proxy"),
    "method_courier": ("快递", "by courier"),
    "receiver_name": ("领取人", "Received by"),
    "save": ("保存", "Save"),
    "rating": ("满意度评价", "Satisfaction rating"),
    "comment": ("意见(可选)", "Comment (optional)"),
    "rating_very_satisfied": ("非常满意", "very satisfied"),
    "rating_satisfied": ("满意", "satisfied"),
    "rating_basically_satisfied": ("基本满意", "basically satisfied"),
    "rating_dissatisfied": ("不满意", "dissatisfied"),
    "rating_very_dissatisfied": ("非常不满意", "very dissatisfied"),
    "stage_queued_here": ("待上传", "queued here"),
    "stage_sent_up": ("已移交上级", "handed up"),
    "stage_received_by_city": ("市中心已接收", "received by the city"),
    "stage_at_window": ("窗口办理中", "at the window"),
    "stage_supplement_requested": ("待补正材料", "supplement requested"),
    "stage_decided": ("已办结", "decided"),
    "outcome": ("办理结果", "Decision"),
    "outcome_approved": ("准予", "approved"),
    "outcome_rejected": ("不予 (退回)", "rejected (returned)"),
    "outcome_withdrawn": ("已撤件", "withdrawn"),
    "stage_handed_over": ("已转交申请人", "handed to the citizen"),
    "missing": ("需补正的材料", "Missing materials"),
    "transfer_title": ("纸质材料移交清单", "Hand-over list of paper originals"),
    "transfer_to": ("接收单位", "Receiving site"),
    "transfer_print": ("生成移交清单", "Make the hand-over list"),
    "transfer_none": ("没有待移交纸质材料的案件", "No case has originals to send"),
    "status_title": ("办理进度查询", "Case status"),
    "status_not_found": ("受理编号或查询码不正确", "Acceptance number or query code is wrong"),
    "status_too_many": ("尝试次数过多,请稍后再试", "Too many tries, try again later"),
    "lookup": ("查询", "Look up"),
    "deadline": ("办结时限", "Deadline"),
    "as_of": ("信息截至", "As of"),
    "reader_missing": ("本机没有身份证读卡器", "No ID card reader on this PC"),
    "sync_synced": ("已同步", "synced"),
    "sync_waiting": ("待上传 {n} 件", "{n} waiting"),
    "sync_offline": ("离线", "offline"),
    "sync_refused": ("同步被拒", "sync refused"),
    "sync_since": ("自 {at} 起", "since {at}"),
    "sync_unenrolled": ("未注册", "not enrolled"),
    "sync_unenrolled_hint": ("本站尚未注册到上级,案件暂存本机",
                             "No parent yet: cases are kept on this PC"),
    "sync_unknown": ("状态未知", "status unknown"),
    "sync_unknown_hint": ("暂时无法读取本机数据库", "The local database cannot be read now"),
    "sync_title": ("同步状态", "Sync status"),
    "sync_parent": ("上级站点", "Parent site"),
    "sync_reachable": ("上次尝试时上级可达", "Parent reachable at the last attempt"),
    "sync_pending_up": ("待上传事件", "Events waiting to go up"),
    "sync_pending_down": ("待下发事件", "Events waiting to go down"),
    "sync_last_success": ("上次成功同步", "Last successful exchange"),
    "sync_last_attempt": ("上次尝试", "Last attempt"),
    "sync_last_error": ("上次错误", "Last error"),
    "sync_bytes_up": ("累计上传", "Bytes sent"),
    "sync_bytes_down": ("累计下载", "Bytes received"),
    "sync_bytes": ("字节", "bytes"),
    "sync_next_run": ("下次同步", "Next exchange"),
    "sync_now": ("立即同步", "Sync now"),
    "sync_nudged": ("已请求尽快同步", "The next exchange was brought forward"),
    "sync_never": ("从未", "never"),
    "form_expired": ("表单已过期,请刷新页面后重试",
                     "The form has expired: reload the page and try again"),
}


def locale_name() -> str:
    """``zh`` or ``en`` for this request."""
    return str(get_locale() or "zh")


def t(key: str) -> str:
    """The interface text ``key`` in this request's language (the key itself if unknown)."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if locale_name() == "en" else pair[0]


def _select_locale() -> str:
    asked = request.args.get("lang") or request.cookies.get(COOKIE)
    return asked if asked in LANGUAGES else "zh"


def local_time(at: datetime) -> str:
    """A UTC time shown in Asia/Shanghai, minutes precision."""
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def local_day(value: str | None) -> str:
    """A deadline (an ISO time at the end of its day) as the day it falls on in
    Asia/Shanghai; empty for none."""
    if not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    return due_day(at).isoformat()


def init_app(app: Flask) -> None:
    """Wire Flask-Babel, the ``t`` template global and the language cookie."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    Babel(app, locale_selector=_select_locale)
    app.jinja_env.globals.update(t=t, lang=locale_name, local_time=local_time,
                                  local_day=local_day)

    @app.after_request
    def remember_language(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
            response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax")
        return response
