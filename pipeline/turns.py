"""Speaker turns of an interview transcript.

In: the canonical text of one transcript.  Out: ``Turn`` records, one per labelled turn, with
the label as printed, the speaker's role, the timestamp if any and the exact offsets of what
was said (continuation paragraphs included, up to the next label).

Labels recognised at the start of a line: role labels (问/答, Q/A, 访谈者/受访者, 主持人,
Interviewer 1, Respondent …), names ("张主任：", "John Smith:"), each optionally after a
timestamp ("[00:01:23] 张主任：", "00:01:23 Name:"), a name with a timestamp alone on its line
(the export of most transcription tools: "说话人1 00:03"), and Markdown speaker headings
("### Interviewer").  A name that is not a role label counts only when it opens two or more
lines, and never when it is a form field (联系人, 电话, Date …): policy texts are full of
"联系人：张三".  Lines before the first label (title, date, 地点) are a header, not a turn.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .numbering import match_heading
from .records import Turn

_TIMESTAMP = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?"
# "[00:01:23] 张主任：说…", "**Interviewer 1:** So…", "问：…"
_LABEL_LINE = re.compile(
    rf"^(?:[\[【(（]?(?P<stamp>{_TIMESTAMP})[\]】)）]?[\s\-–—]*)?"
    r"(?:\*\*)?(?P<label>[^:：*\s][^:：*\n]{0,39}?)\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?[ \t\u3000]*(?P<rest>.*)$"
)
# "说话人1 00:03" / "Speaker 1  0:03" alone on a line; the words follow below
_STAMP_LINE = re.compile(rf"^(?P<label>[^\d\s:：][^:：\n]{{0,30}}?)\s+[\[(（]?(?P<stamp>{_TIMESTAMP})[\])）]?$")
_MARKDOWN = re.compile(r"^#{1,6}\s+(?P<label>.+?)\s*#*$")
_SUFFIX = re.compile(r"(?<=\S)[\s_-]*(?:\d+|[A-Z甲乙丙丁])$")  # "Interviewer 1", "受访者A"
_BRACKETED = re.compile(r"^(?P<base>[^（(]+)[（(][^）)]{1,20}[）)]$")  # "王老师（访谈者）"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_NOT_IN_LABEL = re.compile(r"[、，,。；;！？!?《》\"“”‘’=/\\|<>\[\]{}#@]")

INTERVIEWER_LABELS = {
    "q", "问", "提问", "interviewer", "访谈者", "访谈人", "访问者", "采访者", "采访人", "主持人", "主持",
    "研究者", "研究人员", "调研者", "调研人员", "调查员", "访员", "记者", "moderator", "facilitator",
    "researcher", "host", "i", "question", "int", "问题",
}
PARTICIPANT_LABELS = {
    "a", "答", "回答", "interviewee", "受访者", "被访者", "受访人", "被访人", "被访谈者", "受访对象",
    "participant", "respondent", "answer", "r", "p", "说话人", "speaker",
}
# words that mark a role inside a longer label: "王老师（访谈者）", "Lead Interviewer"
_PARTICIPANT_WORDS = ("interviewee", "respondent", "participant", "受访", "被访")
_INTERVIEWER_WORDS = ("interviewer", "moderator", "researcher", "facilitator", "访谈者", "访谈人", "主持人",
                      "研究者", "采访者", "调研员")

# form fields that open lines in policy texts and headers: never speakers
_FIELDS = {
    "联系人", "电话", "联系电话", "手机", "传真", "邮箱", "电子邮箱", "邮编", "地址", "网址", "联系方式",
    "时间", "日期", "地点", "访谈时间", "访谈地点", "访谈日期", "访谈对象", "时长", "记录人", "整理人",
    "来源", "发布时间", "发布日期", "标题", "题目", "主题", "备注", "注", "说明", "附件", "抄送", "主送",
    "其中", "例如", "如", "即", "一是", "二是", "三是", "目的", "文号", "签发人", "关键词", "摘要",
    "比如", "首先", "其次", "然后", "最后", "另外", "总之", "所以", "但是", "因此", "第一", "第二", "第三",
    "date", "time", "location", "place", "venue", "duration", "note", "notes", "email", "e-mail",
    "phone", "tel", "fax", "address", "subject", "from", "to", "cc", "re", "source", "title", "topic",
    "present", "participants", "attendees", "agenda", "keywords", "abstract", "summary", "transcript",
    "interview date", "recorded", "transcribed by", "file", "figure", "table", "example", "step", "see",
    "url", "website", "audio", "video", "http", "https", "ftp", "mailto",
}
_FIELD_ENDINGS = (
    "单位", "部门", "机构", "时间", "时限", "日期", "地点", "地址", "方式", "电话", "联系人", "要求",
    "目标", "任务", "条件", "材料", "范围", "对象", "标准", "依据", "内容", "名称", "说明", "备注",
    "措施", "原则", "意见", "附件", "编号", "金额", "数量", "成效", "主体", "领域", "类型", "情况",
)
_TITLES = ("主任", "老师", "校长", "书记", "经理", "局长", "处长", "科长", "院长", "厂长", "部长", "总", "先生",
           "女士", "同学", "教授", "博士", "专家", "代表", "负责人", "工程师", "师傅", "教师", "学生", "家长",
           "董事长", "总监", "主管", "组长", "干事", "委员", "秘书")
MIN_REPEATS = 2  # a name must open this many lines to count as a speaker
MIN_TRANSCRIPT_LABELS = 3
# labels open at least this share of the paragraphs from the first label on; a report that
# quotes a few "Question 3:" lines in a long section stays a document
MIN_LABEL_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class _Line:
    start: int  # offset of the line in the text
    text: str  # the line as it stands, indentation included

    @property
    def visible_start(self) -> int:
        return self.start + len(self.text) - len(self.text.lstrip())

    @property
    def visible_end(self) -> int:
        return self.start + len(self.text.rstrip())


@dataclass(frozen=True, slots=True)
class _Candidate:
    line: int  # index into the line list
    label: str
    stamp: str | None
    text_start: int | None  # offset of the words on the label line; None when they start below
    kind: str  # "inline", "stamped" (timestamp before the name or alone after it), "markdown"


def split_turns(text: str) -> tuple[Turn, ...]:
    """The speaker turns of ``text``; empty when no speaker labels are found."""
    lines = _lines(text)
    accepted = _accepted(_candidates(lines))
    turns: list[Turn] = []
    for position, found in enumerate(accepted):
        after = accepted[position + 1].line if position + 1 < len(accepted) else len(lines)
        said = [line for line in lines[found.line + 1:after] if line.text.strip()]
        if found.text_start is not None:
            start, end = found.text_start, (said[-1] if said else lines[found.line]).visible_end
        elif said:
            start, end = said[0].visible_start, said[-1].visible_end
        else:
            continue  # a label with nothing said after it
        turns.append(Turn(
            number=len(turns) + 1,
            speaker=found.label,
            role=role_of(found.label),
            text=text[start:end],
            start=start,
            end=end,
            timestamp=found.stamp,
        ))
    return tuple(turns)


def looks_like_transcript(text: str) -> bool:
    """True when several lines open with speaker labels and some label recurs.

    Stricter than ``split_turns``: names that are not role labels must look like people
    (张主任, 王老师, John Smith, P1), the labels must outnumber the numbered headings and
    open a fair share of the paragraphs, so that a notice with a few "联系人：" or
    "牵头单位：" lines, or a report quoting survey questions, stays a document.
    """
    lines = _lines(text)
    accepted = [found for found in _accepted(_candidates(lines))
                if found.kind != "inline" or _known_role(found.label) or _person_like(found.label)]
    if len(accepted) < MIN_TRANSCRIPT_LABELS:
        return _one_exchange(accepted, lines)
    counts = Counter(_base(found.label).lower() for found in accepted)  # Interviewer 1 and 2 are one role
    headings = sum(1 for line in lines if match_heading(line.text.strip()))
    paragraphs = sum(1 for line in lines[accepted[0].line:] if line.text.strip())
    return (max(counts.values()) >= MIN_REPEATS and len(accepted) > headings
            and len(accepted) >= MIN_LABEL_SHARE * paragraphs)


def _one_exchange(accepted: list, lines: list) -> bool:
    """问：… 答：… alone is an interview too: the file opens with one interviewer label, then one
    participant label follows, and what each said runs to a few paragraphs at most."""
    if len(accepted) != 2 or not all(_known_role(found.label) for found in accepted):
        return False
    if [role_of(found.label) for found in accepted] != ["interviewer", "participant"]:
        return False
    filled = [index for index, line in enumerate(lines) if line.text.strip()]
    return filled[0] == accepted[0].line and len(filled) <= 6


def role_of(label: str) -> str:
    """"interviewer" for 问/Q/访谈者/主持人/Interviewer/研究者 and the like, else "participant"."""
    base = _base(label).lower()
    if base in INTERVIEWER_LABELS:
        return "interviewer"
    if base in PARTICIPANT_LABELS or any(word in label.lower() for word in _PARTICIPANT_WORDS):
        return "participant"
    if any(word in label.lower() for word in _INTERVIEWER_WORDS):
        return "interviewer"
    return "participant"


# ---------------------------------------------------------------- labels

def _lines(text: str) -> list[_Line]:
    """Every line, blank ones included, so that a line's index is its position in the list."""
    found = []
    offset = 0
    for line in text.split("\n"):
        found.append(_Line(offset, line))
        offset += len(line) + 1
    return found


def _base(label: str) -> str:
    """The label without a number or a bracketed note: "Interviewer 1" → "Interviewer"."""
    bracketed = _BRACKETED.match(label)
    base = bracketed.group("base").strip() if bracketed else label
    stripped = _SUFFIX.sub("", base).strip()
    return stripped or base


def _known_role(label: str) -> bool:
    base = _base(label).lower()
    return base in INTERVIEWER_LABELS or base in PARTICIPANT_LABELS


def _shaped_like_label(label: str) -> bool:
    """Short, no sentence punctuation, no numbering, not a form field."""
    if not label or _NOT_IN_LABEL.search(label) or match_heading(label) or label.isdigit():
        return False
    base = _base(label)
    if _CJK.search(base):
        if len(base) > 8:
            return False
    elif len(label) > 30 or len(label.split()) > 4:
        return False
    if base.lower() in _FIELDS or label.lower() in _FIELDS:
        return False
    return _known_role(label) or not base.endswith(_FIELD_ENDINGS)


def _person_like(label: str) -> bool:
    """张主任, 王老师, 李明, John Smith, Sarah, P1 — not 预期成效 or "the plan"."""
    base = _base(label)
    if _CJK.search(base):
        return len(base) <= 3 or base.endswith(_TITLES)
    words = label.split()
    return len(words) <= 3 and all(word[:1].isupper() or word.isdigit() for word in words)


def _candidates(lines: list[_Line]) -> list[_Candidate]:
    """Every line that opens with something shaped like a speaker label."""
    found = []
    for index, line in enumerate(lines):
        stripped = line.text.strip()
        markdown = _MARKDOWN.match(stripped)
        stamped = _STAMP_LINE.match(stripped)
        labelled = _LABEL_LINE.match(stripped)
        if markdown:
            label = markdown.group("label").strip("* ")
            if _shaped_like_label(label):
                found.append(_Candidate(index, label, None, None, "markdown"))
        elif stamped and _shaped_like_label(stamped.group("label").strip()):
            found.append(_Candidate(index, stamped.group("label").strip(), stamped.group("stamp"), None, "stamped"))
        elif labelled and _shaped_like_label(labelled.group("label").strip()):
            said = line.visible_start + labelled.start("rest") if labelled.group("rest") else None
            stamp = labelled.group("stamp")
            found.append(_Candidate(index, labelled.group("label").strip(), stamp, said,
                                    "stamped" if stamp else "inline"))
    return found


def _accepted(candidates: list[_Candidate]) -> list[_Candidate]:
    """Keep role labels, timestamped labels and names that recur; Markdown headings must recur too."""
    counts = Counter((found.kind == "markdown", found.label) for found in candidates)
    kept = [
        found for found in candidates
        if _known_role(found.label) or found.kind == "stamped"
        or counts[(found.kind == "markdown", found.label)] >= MIN_REPEATS
    ]
    if len({found.label for found in kept}) < 2 and not any(
            _known_role(found.label) or found.kind == "stamped" for found in kept):
        return []  # one recurring name alone is a list, not a conversation
    return kept
