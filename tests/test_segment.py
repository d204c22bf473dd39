"""Segmentation of policy documents into coding units with printed paths.

Every document here is written for these tests; each case pins the exact list of paths and
checks that every unit's offsets give back its text.
"""
from __future__ import annotations

import pytest

from pipeline.numbering import match_heading, match_outline, starts_block
from pipeline.records import PageSpan
from pipeline.segment import segment_policy

NOTICE = """\
某市人民政府办公室文件
某政办发〔2024〕8号
某市人民政府办公室关于推进产教融合发展的通知
各区县人民政府，市政府各部门：
为推动教育链与产业链深度融合，经市政府同意，现就有关事项通知如下。
一、总体要求
（一）指导思想。以服务产业发展为导向，推动职业教育提质培优。
（二）目标任务。到2027年，培育市级产教融合型企业100家。
二、重点任务
（一）深化校企合作。支持企业参与职业学校办学：
1.共建产业学院。对新认定的产业学院给予一次性奖励。
1.5万元以下的设备购置由学校自行安排。
2.共建实训基地。按以下标准给予补助：
（1）市级基地每个补助100万元；
（2）区级基地每个补助50万元。
（二）落实财税政策。企业投资职业教育的，按规定享受税收优惠。
2023年已出台的政策继续执行。
三、保障措施
各区县要建立工作专班，定期调度推进情况。
附件：1.市级产教融合型企业名单
2.项目申报表
某市人民政府办公室
2024年3月15日
（此件公开发布）
附件1
市级产教融合型企业名单
1.甲智能制造有限公司
2.乙信息技术有限公司
附件2
项目申报表
单位名称  联系人  联系电话
抄送：市委办公室，市人大常委会办公室。
某市人民政府办公室  2024年3月16日印发
"""

LAW_MARKDOWN = """\
# 某市职业教育条例

2015年8月26日 某市第十五届人民代表大会常务委员会第二十九次会议通过

<!-- INFO END -->

## 第一章　总则

第一条　为了促进职业教育发展，制定本条例。

第二条　本条例适用于本市行政区域。

本条例所称职业学校包括中等职业学校和技工学校。

## 第二章　学校

### 第一节　设立

第三条　设立职业学校，应当具备下列条件：

（一）有组织机构和章程；

（二）有合格的教师。

设立职业培训机构，应当具备下列条件：

（一）有管理制度；

（二）有相应的经费。

学校的设立、变更和终止，按照国家有关规定执行。

第四条　学校可以聘任兼职教师。第三条规定的条件另有规定的，从其规定。

### 第二节　管理

第五条　学校实行校长负责制。

## 第三章　附则

第六条　本条例自2016年1月1日起施行。
"""

ARTICLES_ONLY = """\
某省实施《职业教育法》办法
第一条 为了发展职业教育，结合本省实际，制定本办法。
第二条 本办法适用于本省行政区域内的职业教育。
第三条 职业教育经费的来源包括：
（一）财政拨款；
（二）学费收入；
（三）社会捐赠。
第四条 本办法自公布之日起施行。
"""

SKIPPED_LEVELS = """\
一、总体目标
1.到2025年建成10个实训基地。
2.培育一批产教融合型企业。
二、主要任务
（一）建设基地
1.建设市级基地。
2.建设区级基地。
（二）培养师资
1.培训双师型教师。
"""

BROKEN = """\
一、总体要求
二、重点任务
（一）任务一。内容甲。
（二）任务二。内容乙。
（二）任务三。内容丙。
（五）任务五。内容丁。
二、保障措施
加强组织领导。
一、附则
本通知自印发之日起施行。
"""

PREAMBLE_ONLY = """\
教育部办公厅 国家发展改革委办公厅关于公布第一批名单的通知
各省、自治区、直辖市教育厅（教委）、发展改革委：
经申报、推荐和评审，确定了第一批名单，现予以公布。
有关地方要加强政策支持，推动项目建设取得实效。
教育部办公厅
国家发展改革委办公厅
2023年10月11日
"""

ORDER = """\
某市人民政府令
第8号
《某市校企合作促进办法》已经2021年11月8日市人民政府常务会议审议通过，现予公布，自2022年1月1日起施行。
市长　某某
2021年11月18日
某市校企合作促进办法
第一章　总则
第一条　为了促进校企合作，制定本办法。
第二条　本办法适用于本市。
第二章　附则
第三条　本办法自2022年1月1日起施行。
"""

DOCX_LINES = """\
第一条
为了规范校企合作，制定本办法。
第二条
本办法适用于本市职业院校。
"""

MARKDOWN_UNNUMBERED = """\
# 某学院校企合作管理办法
## 总则
为规范校企合作，制定本办法。
## 合作形式
学院与企业可以共建专业。
### 订单培养
企业参与招生和教学。
## 附则
本办法自发布之日起施行。
"""

PLAN_DECIMAL = """\
某县“十四五”职业教育发展规划
一、发展基础
1.1 主要成就
职业教育体系基本形成。
1.2 面临挑战
产教融合仍不够深入。
二、主要任务
2.1 优化布局
调整中职学校布局。
"""

ATTACHMENT_NUMBERED = """\
关于印发实施细则的通知
各有关单位：
现将《实施细则》印发给你们，请认真贯彻执行。
附件：实施细则
某市教育局
2024年1月8日
附件一
某市产教融合实施细则
为落实产教融合政策，制定本细则。
第一条 本细则适用于本市。
第二条 企业可以申请认定。
附件一
申报材料清单
营业执照复印件
"""

# a reprint that drops the 附件 mark: the attached text follows the 落款 under its own title
ATTACHMENT_UNMARKED = """\
关于印发管理办法的通知
各有关单位：
现将《某市实训基地管理办法》印发给你们，请遵照执行。
附件：1.某市实训基地管理办法
      2.申报书（样式）
某市教育局
某市财政局
2025年3月18日
某市实训基地管理办法
第一章　总则
第一条 为规范实训基地管理，制定本办法。
第二条 实训基地应当向社会开放。
第二章　附则
第三条 本办法自2025年4月1日起施行。
"""

# two attached texts without their marks, each named by the 附件说明
TWO_UNMARKED = """\
某市教育局关于印发职业教育两项办法的通知
各职业院校：
现将《某市实训基地管理办法》和《某市兼职教师管理办法》印发给你们，请认真贯彻执行。
附件：1.《某市实训基地管理办法》
      2.某市兼职教师管理办法
某市教育局
2025年3月1日
某市实训基地管理办法
第一条 为规范实训基地管理，制定本办法。
第二条 对考核优秀的实训基地给予10万元奖励。
某市兼职教师管理办法
第一条 为加强兼职教师队伍建设，制定本办法。
第二条 兼职教师不得同时在三所以上学校任教。
"""

ENGLISH_GUIDE = """\
Guidelines on Work-Based Learning

To the education departments of all provinces:

1. Purpose
These guidelines set out how colleges and employers share apprenticeships. They apply from 1 January 2024.

2. Scope
2.1 General
The guidelines apply to all public colleges.
2.2 Exclusions
They do not apply to:
(a) private training providers;
(b) universities; and
(c) schools.
3. Funding
Colleges may receive up to 1.5 million dollars, e.g. for equipment. See Art. 4 for details.

Ministry of Education
June 3, 2024

Annex 1 Model agreement
The parties agree to share training costs.
"""

ENGLISH_LEGAL = """\
CHAPTER I General provisions
Article 1 Subject matter
This Regulation lays down rules on apprenticeships.
Article 2
For the purposes of this Regulation:
(a) 'college' means a public institution;
(b) 'employer' means any undertaking.
CHAPTER II Funding
Article 3 Grants
1. Member States may grant aid.
2. Aid shall not exceed 50%.
Section 2 of the Act applies to such aid.
"""

ENGLISH_LETTERS = """\
1. Conditions
(a) first condition;
(b) second condition;
(c) third condition;
(d) fourth condition;
(e) fifth condition;
(f) sixth condition;
(g) seventh condition;
(h) eighth condition;
(i) ninth condition, which has parts:
(i) part one;
(ii) part two.
"""

CASES = {
    "notice": (NOTICE, ["0", "1-1", "1-2", "2-1", "2-1-1", "2-1-2", "2-1-2-1", "2-1-2-2", "2-2", "3",
                        "A1-1", "A1-2", "A2"]),
    "law_markdown": (LAW_MARKDOWN, ["1-1", "1-2", "2-1-3-1", "2-1-3-1-1", "2-1-3-1-2", "2-1-3-2", "2-1-3-2-1",
                                    "2-1-3-2-2", "2-1-3-3", "2-1-4", "2-2-5", "3-6"]),
    "articles_only": (ARTICLES_ONLY, ["1", "2", "3", "3-1", "3-2", "3-3", "4"]),
    "skipped_levels": (SKIPPED_LEVELS, ["1-1", "1-2", "2-1-1", "2-1-2", "2-2-1"]),
    "broken_numbering": (BROKEN, ["1", "2-1", "2-2", "2-3", "2-5", "3", "4"]),
    "preamble_only": (PREAMBLE_ONLY, ["0-1", "0-2"]),
    "order_format": (ORDER, ["1-1", "1-2", "2-3"]),
    "heading_on_own_line": (DOCX_LINES, ["1", "2"]),
    "markdown_unnumbered": (MARKDOWN_UNNUMBERED, ["1", "2", "2-1", "3"]),
    "plan_decimal": (PLAN_DECIMAL, ["1-1", "1-2", "2-1"]),
    "attachment_numbered": (ATTACHMENT_NUMBERED, ["0", "A1-0", "A1-1", "A1-2", "A2"]),
    "attachment_unmarked": (ATTACHMENT_UNMARKED, ["0", "A1-1-1", "A1-1-2", "A1-2-3"]),
    "two_unmarked": (TWO_UNMARKED, ["0", "A1-1", "A1-2", "A2-1", "A2-2"]),
    # the first marked, the second not: the 附件说明 still names it
    "marked_then_unmarked": (TWO_UNMARKED.replace("2025年3月1日\n", "2025年3月1日\n附件1\n"),
                             ["0", "A1-1", "A1-2", "A2-1", "A2-2"]),
    "note_entries_below": (TWO_UNMARKED.replace("附件：1.", "附件：\n1."), ["0", "A1-1", "A1-2", "A2-1", "A2-2"]),
    "english_guide": (ENGLISH_GUIDE, ["1", "2-1", "2-2", "2-2-1", "2-2-2", "2-2-3", "3", "A1"]),
    "english_legal": (ENGLISH_LEGAL, ["1-1", "1-2", "1-2-1", "1-2-2", "2-3-1", "2-3-2"]),
    "english_letters": (ENGLISH_LETTERS, ["1-1", "1-2", "1-3", "1-4", "1-5", "1-6", "1-7", "1-8", "1-9",
                                          "1-9-1", "1-9-2"]),
}


def _check_offsets(text, clauses):
    for clause in clauses:
        assert text[clause.start:clause.end] == clause.text
        assert clause.text == clause.text.strip() and clause.text
    paths = [clause.path for clause in clauses]
    assert len(paths) == len(set(paths)), paths


@pytest.mark.parametrize("name", CASES)
def test_segment_paths_follow_printed_numbering(name):
    text, expected = CASES[name]
    clauses = segment_policy(text)
    assert [clause.path for clause in clauses] == expected
    _check_offsets(text, clauses)


@pytest.mark.parametrize("name", CASES)
def test_segment_sentence_mode_keeps_exact_offsets(name):
    text, _ = CASES[name]
    items = segment_policy(text)
    sentences = segment_policy(text, unit="sentence")
    _check_offsets(text, sentences)
    # every sentence lies inside exactly one item, and each item has at least one sentence
    for item in items:
        inside = [s for s in sentences if item.start <= s.start and s.end <= item.end]
        assert inside and all(s.path.rsplit("-", 1)[0] == item.path for s in inside)
        assert [s.path.rsplit("-", 1)[1] for s in inside] == [str(n) for n in range(1, len(inside) + 1)]


def test_segment_notice_head_and_tail_give_no_units():
    clauses = segment_policy(NOTICE)
    joined = "\n".join(clause.text for clause in clauses)
    for tail in ("某政办发", "各区县人民政府，市政府各部门", "附件：1.", "2.项目申报表", "2024年3月15日",
                 "此件公开发布", "抄送", "印发", "市级产教融合型企业名单"):
        assert tail not in joined
    by_path = {clause.path: clause for clause in clauses}
    assert by_path["0"].text.startswith("为推动教育链")
    assert by_path["3"].text == "三、保障措施\n各区县要建立工作专班，定期调度推进情况。"
    assert by_path["3"].heading == "保障措施"


def test_segment_decimals_and_years_at_line_start_are_not_headings():
    by_path = {clause.path: clause for clause in segment_policy(NOTICE)}
    assert by_path["2-1-1"].text.endswith("1.5万元以下的设备购置由学校自行安排。")
    assert by_path["2-2"].text.endswith("2023年已出台的政策继续执行。")


def test_segment_run_in_labels_and_heading_paths():
    by_path = {clause.path: clause for clause in segment_policy(NOTICE)}
    assert by_path["1-2"].heading == "目标任务"
    assert by_path["1-2"].heading_path == ("一、总体要求",)
    assert by_path["2-1"].heading == "深化校企合作"  # the item's own lead-in before its sub-items
    assert by_path["2-1"].text == "（一）深化校企合作。支持企业参与职业学校办学："
    assert by_path["2-1-2-1"].heading_path == ("二、重点任务", "（一）深化校企合作", "2.共建实训基地")
    assert by_path["2-1-2-1"].heading == ""


def test_segment_attachments():
    clauses = segment_policy(NOTICE)
    attachment = [clause for clause in clauses if clause.section == "attachment"]
    assert [clause.path for clause in attachment] == ["A1-1", "A1-2", "A2"]
    assert attachment[0].heading_path == ("附件1 市级产教融合型企业名单",)
    # an attachment without numbering is coded as a whole, its title as the heading
    assert attachment[2].text == "单位名称  联系人  联系电话"
    assert attachment[2].heading == "项目申报表"
    assert all(clause.section == "body" for clause in clauses if not clause.path.startswith("A"))


def test_segment_repeated_attachment_numbers_count_on():
    clauses = segment_policy(ATTACHMENT_NUMBERED)
    by_path = {clause.path: clause for clause in clauses}
    assert by_path["A1-0"].text == "为落实产教融合政策，制定本细则。"
    assert by_path["A1-0"].heading_path == ("附件一 某市产教融合实施细则",)
    assert by_path["A2"].text == "营业执照复印件"
    assert "实施细则" not in by_path["0"].text.replace("《实施细则》", "")


def test_segment_regulation_paragraphs_and_clauses():
    by_path = {clause.path: clause for clause in segment_policy(LAW_MARKDOWN)}
    # an unnumbered paragraph after an article is part of it (款)
    assert by_path["1-2"].text == "第二条　本条例适用于本市行政区域。\n\n本条例所称职业学校包括中等职业学校和技工学校。"
    # after a list opened with "：", a new paragraph starts the article's next 款
    assert by_path["2-1-3-1"].text == "第三条　设立职业学校，应当具备下列条件："
    assert by_path["2-1-3-2"].text == "设立职业培训机构，应当具备下列条件："
    assert by_path["2-1-3-2-2"].text == "（二）有相应的经费。"
    assert by_path["2-1-3-3"].text == "学校的设立、变更和终止，按照国家有关规定执行。"
    assert by_path["2-1-3-2-2"].heading_path == ("第二章\u3000学校", "第一节\u3000设立", "第三条")
    # "第三条规定的…" inside article 4 refers back; it does not open an article
    assert by_path["2-1-4"].text.endswith("第三条规定的条件另有规定的，从其规定。")
    assert by_path["1-1"].heading_path == ("第一章\u3000总则",)


def test_segment_article_without_space_and_heading_on_own_line():
    text = "第一条为了促进合作，制定本办法。\n第二条合作企业有义务接纳学生实习。\n"
    assert [c.path for c in segment_policy(text)] == ["1", "2"]
    by_path = {clause.path: clause for clause in segment_policy(DOCX_LINES)}
    assert by_path["2"].text == "第二条\n本办法适用于本市职业院校。"


def test_segment_markdown_headings_without_numbers():
    by_path = {clause.path: clause for clause in segment_policy(MARKDOWN_UNNUMBERED)}
    assert by_path["2-1"].heading == "订单培养"
    assert by_path["2-1"].heading_path == ("合作形式",)
    assert by_path["2"].text == "## 合作形式\n学院与企业可以共建专业。"


def test_segment_english_headings():
    by_path = {clause.path: clause for clause in segment_policy(ENGLISH_GUIDE)}
    assert by_path["1"].heading == "Purpose"
    assert by_path["2-2-3"].heading_path == ("2. Scope", "2.2 Exclusions")
    assert by_path["3"].text.endswith("See Art. 4 for details.")
    assert by_path["A1"].section == "attachment"
    legal = {clause.path: clause for clause in segment_policy(ENGLISH_LEGAL)}
    assert legal["2-3-2"].text == "2. Aid shall not exceed 50%.\nSection 2 of the Act applies to such aid."
    assert legal["1-1"].heading == "Subject matter"


def test_segment_sentences_split_outside_brackets_and_merge_fragments():
    text = ("一、工作要求\n"
            "（一）加强领导。各地要落实《关于深化产教融合的若干意见（试行）。》的要求；对“好。”的经验予以推广。好的。"
            "对成效突出的地区，给予奖励！是否继续？由省里决定。\n")
    sentences = segment_policy(text, unit="sentence")
    assert [s.path for s in sentences] == ["1-1-1", "1-1-2", "1-1-3", "1-1-4"]
    assert [s.text for s in sentences] == [
        "（一）加强领导。各地要落实《关于深化产教融合的若干意见（试行）。》的要求；",
        "对“好。”的经验予以推广。好的。",  # "好的。" is too short to stand alone
        "对成效突出的地区，给予奖励！是否继续？",
        "由省里决定。",
    ]
    _check_offsets(text, sentences)
    assert all(s.heading == "加强领导" for s in sentences)


def test_segment_joint_sign_off_and_english_tail_are_not_text():
    last = segment_policy(PREAMBLE_ONLY)[-1]
    assert last.text == "有关地方要加强政策支持，推动项目建设取得实效。"
    english = {clause.path: clause for clause in segment_policy(ENGLISH_GUIDE)}
    assert english["3"].text.endswith("See Art. 4 for details.")
    assert "To the education" not in "".join(c.text for c in english.values())


def test_segment_order_keeps_the_promulgation_out_of_the_units():
    clauses = segment_policy(ORDER)
    assert clauses[0].text == "第一条　为了促进校企合作，制定本办法。"
    assert clauses[0].heading_path == ("第一章　总则",)


def test_segment_english_sentences_respect_abbreviations():
    sentences = [s for s in segment_policy(ENGLISH_GUIDE, unit="sentence") if s.path.startswith("3-")]
    assert [s.text for s in sentences] == [
        "3. Funding\nColleges may receive up to 1.5 million dollars, e.g. for equipment.",
        "See Art. 4 for details.",
    ]


def test_segment_pages_come_from_the_page_map():
    text = ARTICLES_ONLY
    second_page = text.index("第三条")
    pages = (PageSpan(1, 0, second_page - 1), PageSpan(2, second_page, len(text)))
    clauses = segment_policy(text, pages=pages)
    assert [(c.path, c.page) for c in clauses] == [
        ("1", 1), ("2", 1), ("3", 2), ("3-1", 2), ("3-2", 2), ("3-3", 2), ("4", 2)]
    assert all(c.page is None for c in segment_policy(text))


def test_segment_unknown_unit_names_the_allowed_values():
    with pytest.raises(ValueError, match="'item', 'sentence'"):
        segment_policy(NOTICE, unit="paragraph")


@pytest.mark.parametrize("text", ["", "\n\n", "关于某事的通知"])
def test_segment_empty_or_head_only_text(text):
    assert segment_policy(text) == ()


@pytest.mark.parametrize("line, family, number", [
    ("第十二条 国家鼓励企业举办职业教育。", "article", 12),
    ("## 第二章 学校", None, None),  # Markdown marks are the segmenter's business
    ("一、总体要求", "cn", 1),
    ("（十一）加强督导", "cn_paren", 11),
    ("(三)加强督导", "cn_paren", 3),
    ("3.共建实训基地", "arabic", 3),
    ("12、加强领导", "arabic", 12),
    ("2）建设基地", "arabic_close", 2),
    ("（2）区级基地", "arabic_paren", 2),
    ("⑶其他", "circled_paren", 3),
    ("④其他", "circled", 4),
    ("第一部分 发展基础", "part", 1),
    ("1.5万元以下的项目", None, None),
    ("2023年起实施", None, None),
    ("10.5%的企业", None, None),
])
def test_numbering_match_heading(line, family, number):
    found = match_heading(line)
    assert (found.family, found.number) == (family, number) if family else found is None


@pytest.mark.parametrize("line, english, family, number", [
    ("2.3 Funding rules", True, "decimal", 3),
    ("1.1 主要成就", False, "decimal", 1),
    ("1.5 万元以下", False, None, None),
    ("1.5 million people", True, None, None),
    ("Article 3 Grants", True, "en_article", 3),
    ("Article 3 of the Act applies.", True, None, None),
    ("CHAPTER IV", True, "en_chapter", 4),
    ("Section 2. Scope", True, "en_section", 2),
    ("(b) universities;", True, "paren_letter", 2),
    ("(iv) part four", True, "paren_roman", 4),
    ("B. Methods", True, "upper_letter", 2),
    ("(b) universities;", False, None, None),
])
def test_numbering_match_outline(line, english, family, number):
    found = match_outline(line, english=english)
    assert (found.family, found.number) == (family, number) if family else found is None


@pytest.mark.parametrize("line, expected", [
    ("附件2", True), ("附件二：申报表", True), ("一、总体要求", True), ("2024年3月15日", True),
    ("抄送：市委办公室。", True), ("1.5万元以下", False), ("Article 3 of the Act", False), ("附件2所列企业", False),
])
def test_numbering_starts_block(line, expected):
    assert starts_block(line) is expected
