"""Speaker turns of interview transcripts, and telling transcripts from policy texts.

Every transcript here is written for these tests.
"""
from __future__ import annotations

import pytest

from pipeline.turns import looks_like_transcript, role_of, split_turns

ZH_ROLES = """\
产教融合访谈记录
时间：2023年5月6日
地点：某职业技术学院
访谈对象：校企合作处处长

访谈者：请您介绍一下学校的校企合作情况。
受访者：我们学校目前与二十多家企业合作。

主要形式是订单班和实训基地。
访谈者：政府给了哪些支持？
受访者：主要是实训基地补助。
"""

QA_ZH = """\
问：企业参与办学的积极性如何？
答：总体不高。
问：原因是什么？
答：主要是成本问题，收益也不明显。
"""

QA_EN = """\
Q: How long have you worked with the college?
A: About five years.
Q: What changed?
A: Funding rules.
"""

MODERATOR_NAMES = """\
主持人：欢迎各位参加座谈。
张主任：谢谢。我先介绍一下学院的情况。
王经理: 我们公司主要接收实习生。
张主任：补充一点，学院还有订单班。
王经理：对，订单班效果不错。
"""

TIMESTAMPS = """\
[00:00:05] 主持人：欢迎各位。
[00:01:23] 张主任：谢谢。我先说两句。
(00:02:10) 王老师：我补充一点。
00:03:00 张主任: 好的。
"""

ENGLISH_NUMBERED = """\
Interview 7 — vocational college, March 2024

Interviewer 1: Could you describe your role?
Interviewee: I coordinate apprenticeships.
Interviewer 2: With how many employers?
Participant: Around forty.
Respondent: I would add that most are small firms.
"""

TOOL_EXPORT = """\
Speaker 1  0:03
Hello, thanks for joining.

Speaker 2  0:10
Happy to be here.
It's a pleasure.

Speaker 1  0:21
Let's start.
"""

MARKDOWN_SPEAKERS = """\
# Transcript

## 访谈者
请谈谈实训基地的建设。

## 李校长

基地由学校和企业共建。

设备主要由企业提供。
## 访谈者
经费如何分担？
## 李校长
按比例分担。
"""

BOLD_LABELS = """\
**Interviewer:** How did it start?
**Participant 3:** Slowly.
**Interviewer:** And then?
"""

CASES = {
    "zh_roles": (ZH_ROLES, [
        ("访谈者", "interviewer", None, "请您介绍一下学校的校企合作情况。"),
        ("受访者", "participant", None, "我们学校目前与二十多家企业合作。\n\n主要形式是订单班和实训基地。"),
        ("访谈者", "interviewer", None, "政府给了哪些支持？"),
        ("受访者", "participant", None, "主要是实训基地补助。"),
    ]),
    "qa_zh": (QA_ZH, [
        ("问", "interviewer", None, "企业参与办学的积极性如何？"),
        ("答", "participant", None, "总体不高。"),
        ("问", "interviewer", None, "原因是什么？"),
        ("答", "participant", None, "主要是成本问题，收益也不明显。"),
    ]),
    "qa_en": (QA_EN, [
        ("Q", "interviewer", None, "How long have you worked with the college?"),
        ("A", "participant", None, "About five years."),
        ("Q", "interviewer", None, "What changed?"),
        ("A", "participant", None, "Funding rules."),
    ]),
    "moderator_names": (MODERATOR_NAMES, [
        ("主持人", "interviewer", None, "欢迎各位参加座谈。"),
        ("张主任", "participant", None, "谢谢。我先介绍一下学院的情况。"),
        ("王经理", "participant", None, "我们公司主要接收实习生。"),
        ("张主任", "participant", None, "补充一点，学院还有订单班。"),
        ("王经理", "participant", None, "对，订单班效果不错。"),
    ]),
    "timestamps": (TIMESTAMPS, [
        ("主持人", "interviewer", "00:00:05", "欢迎各位。"),
        ("张主任", "participant", "00:01:23", "谢谢。我先说两句。"),
        ("王老师", "participant", "00:02:10", "我补充一点。"),
        ("张主任", "participant", "00:03:00", "好的。"),
    ]),
    "english_numbered": (ENGLISH_NUMBERED, [
        ("Interviewer 1", "interviewer", None, "Could you describe your role?"),
        ("Interviewee", "participant", None, "I coordinate apprenticeships."),
        ("Interviewer 2", "interviewer", None, "With how many employers?"),
        ("Participant", "participant", None, "Around forty."),
        ("Respondent", "participant", None, "I would add that most are small firms."),
    ]),
    "tool_export": (TOOL_EXPORT, [
        ("Speaker 1", "participant", "0:03", "Hello, thanks for joining."),
        ("Speaker 2", "participant", "0:10", "Happy to be here.\nIt's a pleasure."),
        ("Speaker 1", "participant", "0:21", "Let's start."),
    ]),
    "markdown_speakers": (MARKDOWN_SPEAKERS, [
        ("访谈者", "interviewer", None, "请谈谈实训基地的建设。"),
        ("李校长", "participant", None, "基地由学校和企业共建。\n\n设备主要由企业提供。"),
        ("访谈者", "interviewer", None, "经费如何分担？"),
        ("李校长", "participant", None, "按比例分担。"),
    ]),
    "bold_labels": (BOLD_LABELS, [
        ("Interviewer", "interviewer", None, "How did it start?"),
        ("Participant 3", "participant", None, "Slowly."),
        ("Interviewer", "interviewer", None, "And then?"),
    ]),
}


@pytest.mark.parametrize("name", CASES)
def test_turns_split_every_label_format(name):
    text, expected = CASES[name]
    turns = split_turns(text)
    assert [(t.speaker, t.role, t.timestamp, t.text) for t in turns] == expected
    assert [t.number for t in turns] == list(range(1, len(expected) + 1))
    for turn in turns:
        assert text[turn.start:turn.end] == turn.text


@pytest.mark.parametrize("name", CASES)
def test_turns_transcripts_are_recognised(name):
    assert looks_like_transcript(CASES[name][0])


@pytest.mark.parametrize(("text", "transcript"), [
    ("问：贵校与企业合作多久了？\n答：大概五年了，主要是订单班。\n", True),
    ("访谈者：您怎么看政策落地？\n受访者：最后一公里还没打通。\n", True),
    ("答：好的。\n问：谢谢。\n", False),  # an answer before any question is not an interview's opening
    ("第一条 为了促进职业教育，制定本办法。\n问：何时施行？\n", False),
    ("政策问答\n问：何时施行？\n答：自发布之日起施行。\n", False),  # a titled Q&A is a document
])
def test_turns_a_single_question_and_answer_is_a_transcript(text, transcript):
    assert looks_like_transcript(text) is transcript


def test_turns_header_block_is_not_a_turn():
    turns = split_turns(ZH_ROLES)
    assert turns[0].start == ZH_ROLES.index("请您介绍")
    assert all("时间" not in t.text and "地点" not in t.text for t in turns)
    # "# Transcript" heads the Markdown file once: a title, not a speaker
    assert split_turns(MARKDOWN_SPEAKERS)[0].speaker == "访谈者"


def test_turns_a_name_must_recur():
    text = "张主任：您好。\n王老师：我们开始吧。\n李处长：好。\n"
    assert split_turns(text) == ()
    assert not looks_like_transcript(text)


NOTICE_WITH_CONTACTS = """\
关于开展产教融合型企业申报工作的通知
各区教育局：
一、申报条件
（一）在本市注册的企业。
（二）近三年无违法记录。
二、联系方式
联系人：张三
电话：0571-12345678
联系人：李四
电话：0571-87654321
邮箱：cjrh@example.cn
"""

TASK_TABLE = """\
某市深化产教融合实施方案
一、重点任务
1.建设产业学院。
牵头单位：市教育局
责任单位：各区县政府
完成时限：2025年底
2.建设实训基地。
牵头单位：市人社局
责任单位：各区县政府
完成时限：2026年底
"""

REGULATION = """\
第一条 为了促进职业教育发展，制定本条例。
第二条 本条例适用于本市。
第三条 职业学校应当具备下列条件：
（一）有组织机构和章程；
（二）有合格的教师。
"""

ENGLISH_POLICY = """\
Guidelines on Work-Based Learning
1. Purpose
These guidelines set out how colleges and employers share apprenticeships.
Note: they apply from 1 January 2024.
2. Contacts
Email: wbl@example.org
Phone: 0123 456
Note: contact the office first.
"""


@pytest.mark.parametrize("text", [NOTICE_WITH_CONTACTS, TASK_TABLE, REGULATION, ENGLISH_POLICY])
def test_turns_policy_texts_are_not_transcripts(text):
    assert not looks_like_transcript(text)
    assert split_turns(text) == ()


def test_turns_report_quoting_survey_questions_is_not_a_transcript():
    comments = "Most respondents agreed; several asked for evening courses.\n" * 20
    report = "Consultation report\n" + "".join(
        f"Question {n}: Should the college open a new workshop?\n{comments}" for n in range(1, 5))
    assert len(split_turns(report)) == 4  # the labels are real, but the text is not an interview
    assert not looks_like_transcript(report)


@pytest.mark.parametrize("label, role", [
    ("问", "interviewer"), ("Q", "interviewer"), ("访谈者", "interviewer"), ("主持人", "interviewer"),
    ("Interviewer 2", "interviewer"), ("研究者", "interviewer"), ("Moderator", "interviewer"),
    ("王老师（访谈者）", "interviewer"), ("答", "participant"), ("A", "participant"), ("受访者A", "participant"),
    ("Interviewee", "participant"), ("Respondent", "participant"), ("张主任", "participant"),
    ("Speaker 1", "participant"),
])
def test_turns_role_of_label(label, role):
    assert role_of(label) == role


def test_turns_label_without_words_is_skipped():
    text = "访谈者：第一个问题。\n受访者：\n访谈者：我换个问题。\n受访者：好的。\n"
    turns = split_turns(text)
    assert [(t.number, t.speaker, t.text) for t in turns] == [
        (1, "访谈者", "第一个问题。"), (2, "访谈者", "我换个问题。"), (3, "受访者", "好的。")]
