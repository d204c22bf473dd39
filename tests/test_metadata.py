"""Metadata detection (pipeline.metadata) and government-level resolution (pipeline.divisions).

Every document below was written for these tests; organ names, 文号 prefixes and places are real,
the documents are not.
"""
import pytest

from pipeline.divisions import LevelResolution, resolve_level
from pipeline.metadata import detect_metadata


def notice(number_line: str) -> str:
    return (
        "浙江省人民政府办公厅文件\n"
        f"{number_line}\n"
        "浙江省人民政府办公厅关于深化产教融合的实施意见\n"
        "各市、县（市、区）人民政府，省政府直属各单位：\n"
        "为深化产教融合，经省政府同意，现提出如下意见。\n"
        "一、总体要求\n"
        "浙江省人民政府办公厅\n"
        "2023年5月6日\n"
    )


@pytest.mark.parametrize(
    "number_line",
    [
        "浙政办发〔2023〕12号",
        "浙政办发[2023]12号",
        "浙政办发[2023] 12号",
        "浙政办发［2023］12号",
        "浙政办发【2023】12号",
        "浙政办发(2023)12号",
        "浙政办发（2023）12号",
        "浙政办发 〔 2023 〕 第12号",
        "浙政办发〔2023〕012号",
        "浙政办发〔２０２３〕１２号",
        "发文字号：浙政办发[2023]12号",
    ],
)
def test_metadata_doc_number_bracket_variants(number_line):
    metadata = detect_metadata(notice(number_line))
    assert metadata.doc_number == "浙政办发〔2023〕12号"
    assert metadata.title == "浙江省人民政府办公厅关于深化产教融合的实施意见"
    assert (metadata.level, metadata.province) == ("provincial", "浙江省")
    assert metadata.level_evidence.endswith("文号 浙政办发 agrees")


@pytest.mark.parametrize(
    "text, number, issuer, level",
    [
        (
            "国务院令第738号\n《职业技能培训促进条例》已经国务院常务会议通过，现予公布。\n",
            "国务院令第738号", None, "national",
        ),
        (
            "重庆市人民政府\n渝府令318号\n《重庆市职业教育条例实施办法》已经市政府常务会议通过，现予公布。\n",
            "渝府令318号", "重庆市人民政府", "provincial",
        ),
        (
            "宁波市人民政府令\n第256号\n"
            "《宁波市职业教育校企合作促进办法》已经2021年11月8日市人民政府第136次常务会议审议通过，现予公布。\n"
            "市长 ×××\n2021年11月18日\n宁波市职业教育校企合作促进办法\n第一章 总则\n第一条 为了促进校企合作，制定本办法。\n",
            "宁波市人民政府令第256号", "宁波市人民政府", "municipal",
        ),
    ],
)
def test_metadata_order_numbers(text, number, issuer, level):
    metadata = detect_metadata(text)
    assert (metadata.doc_number, metadata.issuer, metadata.level) == (number, issuer, level)


def test_metadata_legislature_announcement_gives_the_regulation_title_and_number():
    metadata = detect_metadata(
        "浙江省人民代表大会常务委员会公告\n（第12号）\n"
        "《浙江省职业教育校企合作促进条例》已由浙江省第十四届人民代表大会常务委员会第九次会议于2024年3月28日通过，"
        "现予公布，自2024年7月1日起施行。\n浙江省人民代表大会常务委员会\n2024年3月28日\n"
        "浙江省职业教育校企合作促进条例\n第一章 总则\n"
    )
    assert metadata.title == "浙江省职业教育校企合作促进条例"
    assert metadata.doc_number == "浙江省人民代表大会常务委员会公告第12号"
    assert (metadata.issuer, metadata.level, metadata.date) == ("浙江省人民代表大会常务委员会", "provincial", "2024-03-28")


def test_metadata_order_format_title_follows_promulgation_text():
    metadata = detect_metadata(
        "宁波市人民政府令\n第256号\n"
        "《宁波市职业教育校企合作促进办法》已经市人民政府常务会议审议通过，现予公布。\n"
        "市长 ×××\n二〇二一年十一月十八日\n宁波市职业教育校企合作促进办法\n第一章 总则\n"
    )
    assert metadata.title == "宁波市职业教育校企合作促进办法"
    assert metadata.date == "2021-11-18"


@pytest.mark.parametrize(
    "text",
    [
        # the citation opens the body
        "宁波市教育局关于做好中职学校招生工作的通知\n各区县（市）教育局：\n"
        "根据《国务院关于大力发展职业教育的决定》（国发〔2005〕35号），现就有关事项通知如下。\n",
        # a truncated excerpt: the cited 文号 stands in a line without a full stop
        "宁波市教育局关于做好中职学校招生工作的通知\n"
        "为贯彻《国务院办公厅关于深化产教融合的若干意见》（国办发〔2017〕95号）精神，结合我市实际\n",
        "宁波市教育局关于做好中职学校招生工作的通知\n"
        "为贯彻《国务院办公厅关于深化产教融合的若干意见》(国办发[2017]95号)精神\n",
    ],
)
def test_metadata_citation_is_not_the_doc_number(text):
    metadata = detect_metadata(text)
    assert metadata.doc_number is None
    assert metadata.title == "宁波市教育局关于做好中职学校招生工作的通知"
    assert (metadata.level, metadata.city) == ("municipal", "宁波市")


@pytest.mark.parametrize(
    "title_lines, title",
    [
        (
            "浙江省教育厅\n关于推进职业院校产业学院建设的通知",
            "浙江省教育厅关于推进职业院校产业学院建设的通知",
        ),
        (
            "浙江省教育厅关于推进职业院校产业学院\n建设的通知",
            "浙江省教育厅关于推进职业院校产业学院建设的通知",
        ),
        (
            "浙江省教育厅关于印发产业学院建设实施方案\n的通知",
            "浙江省教育厅关于印发产业学院建设实施方案的通知",
        ),
        (
            "浙江省职业院校产业学院\n建设管理办法（试行）",
            "浙江省职业院校产业学院建设管理办法（试行）",
        ),
    ],
)
def test_metadata_title_on_two_lines(title_lines, title):
    text = f"浙江省教育厅文件\n浙教职成〔2023〕5号\n{title_lines}\n各市、县（市、区）教育局：\n现将有关事项通知如下。\n"
    metadata = detect_metadata(text)
    assert metadata.title == title
    assert metadata.issuer == "浙江省教育厅"


def test_metadata_title_excludes_flag_number_and_addressees():
    metadata = detect_metadata(notice("浙政办发〔2023〕12号"))
    assert metadata.title == "浙江省人民政府办公厅关于深化产教融合的实施意见"
    assert metadata.issuer == "浙江省人民政府办公厅"
    assert metadata.date == "2023-05-06"


def test_metadata_document_starting_with_title_and_web_leftovers():
    text = (
        "首页 > 政务公开 > 政策文件\n索引号：001008003/2023-00123\n发布机构：宁波市教育局\n"
        "宁波市教育局 宁波市财政局关于印发宁波市\n产教融合专项资金管理办法的通知\n"
        "甬教计〔2023〕45号\n各区（县、市）教育局、财政局：\n现将办法印发给你们，请遵照执行。\n"
        "宁波市教育局 宁波市财政局\n2023年7月3日\n"
    )
    metadata = detect_metadata(text)
    assert metadata.title == "宁波市教育局 宁波市财政局关于印发宁波市产教融合专项资金管理办法的通知"
    assert metadata.doc_number == "甬教计〔2023〕45号"
    assert metadata.issuer == "宁波市教育局、宁波市财政局"
    assert (metadata.level, metadata.province, metadata.city) == ("municipal", "浙江省", "宁波市")


def test_metadata_repeated_web_title_keeps_the_full_one():
    text = (
        "关于印发产教融合专项资金管理办法的通知\n来源：宁波市教育局 发布日期：2023-07-05\n宁波市教育局文件\n"
        "甬教计〔2023〕45号\n宁波市教育局关于印发产教融合专项资金管理办法的通知\n各区（县、市）教育局：\n"
        "现将办法印发给你们。\n宁波市教育局\n２０２３年７月３日\n"
    )
    metadata = detect_metadata(text)
    assert metadata.title == "宁波市教育局关于印发产教融合专项资金管理办法的通知"
    assert (metadata.issuer, metadata.date) == ("宁波市教育局", "2023-07-03")


def test_metadata_pinyin_glosses_are_ignored():
    text = "教育部办公厅关(guān)于公布第一批名单的通知\n教职成厅函〔2023〕23号(hào)\n各省、自治区、直辖市教育厅(教委)：\n现予公布。\n"
    metadata = detect_metadata(text)
    assert metadata.title == "教育部办公厅关于公布第一批名单的通知"
    assert metadata.doc_number == "教职成厅函〔2023〕23号"
    assert metadata.level == "national"


def test_metadata_organs_acting_in_the_body_settle_a_notice_without_issuer_line():
    # no issuer line, no 文号; the addressees say municipal or a 直辖市, the body names who acts
    text = (
        "市直有关部门，各区（新区）和有关企业：\n"
        "根据《国务院办公厅关于深化产教融合的若干意见》和《广东省教育厅关于开展试点的通知》，确定29家企业为试点企业。\n"
        "一、实施动态管理\n对培育期满的企业，佛山市发展和改革委员会、佛山市教育局将按照认证标准进行认定。\n"
    )
    metadata = detect_metadata(text)
    assert (metadata.level, metadata.province, metadata.city) == ("municipal", "广东省", "佛山市")
    assert metadata.level_ambiguous is False and "佛山市教育局" in metadata.level_evidence
    # organs of two places decide nothing: still flagged for a human
    two_places = text.replace("佛山市教育局", "广州市教育局")
    assert detect_metadata(two_places).level_ambiguous is True


@pytest.mark.parametrize("date_line", ["June 3, 2024", "3 June 2024"])
def test_metadata_english_translation(date_line):
    text = (
        "Unofficial English translation\n"
        "Notice of the Ministry of Education on Deepening Industry-Education Integration (2024-2027)\n"
        "To the education departments of all provinces:\nThe following is hereby notified.\nI. Objectives\n"
        f"Ministry of Education\n{date_line}\n"
    )
    metadata = detect_metadata(text)
    assert metadata.title == "Notice of the Ministry of Education on Deepening Industry-Education Integration (2024-2027)"
    assert (metadata.issuer, metadata.date) == ("Ministry of Education", "2024-06-03")


@pytest.mark.parametrize(
    "date_line, iso",
    [
        ("2023年5月6日", "2023-05-06"),
        ("2023 年 12 月 31 日", "2023-12-31"),
        ("二〇二二年三月十五日", "2022-03-15"),
        ("二○一九年十二月二十一日", "2019-12-21"),
        ("二〇二〇年十月一日", "2020-10-01"),
    ],
)
def test_metadata_closing_date(date_line, iso):
    text = f"宁波市教育局关于做好招生工作的通知\n各区县（市）教育局：\n现就有关事项通知如下。\n宁波市教育局\n{date_line}\n"
    metadata = detect_metadata(text)
    assert metadata.date == iso
    assert metadata.issuer == "宁波市教育局"


def test_metadata_head_date_is_the_fallback():
    text = "教育部办公厅关于公布名单的通知\n发布时间：2023年10月11日 15:42\n各省、自治区、直辖市教育厅：\n现予公布。\n"
    assert detect_metadata(text).date == "2023-10-11"


@pytest.mark.parametrize(
    "head, closing, issuer",
    [
        (
            "教育部 国家发展改革委 财政部文件\n教职成〔2019〕13号\n关于深化职业教育产教融合的若干意见\n",
            "", "教育部、国家发展改革委、财政部",
        ),
        (
            "教育部\n国家发展改革委 文件\n财政部\n教职成〔2019〕13号\n关于深化职业教育产教融合的若干意见\n",
            "", "教育部、国家发展改革委、财政部",
        ),
        (
            "教育部、国家发展改革委、财政部关于深化职业教育产教融合的若干意见\n", "", "教育部、国家发展改革委、财政部",
        ),
        (
            "关于深化职业教育产教融合的若干意见\n",
            "教育部        国家发展改革委\n财政部\n", "教育部、国家发展改革委、财政部",
        ),
        (  # 信函格式 of a joint document: the organs one per line above the 文号, no 文件 标志
            "教育部\n国家发展改革委 财政部\n教职成〔2019〕13号\n关于深化职业教育产教融合的若干意见\n",
            "", "教育部、国家发展改革委、财政部",
        ),
        (  # the lead organ's 文件 标志 alone; the title names every organ
            "教育部文件\n教职成〔2019〕13号\n教育部 国家发展改革委 财政部关于深化职业教育产教融合的若干意见\n",
            "", "教育部、国家发展改革委、财政部",
        ),
    ],
)
def test_metadata_joint_issuers_lead_first(head, closing, issuer):
    text = f"{head}各省、自治区、直辖市教育厅（教委）：\n为深化产教融合，提出以下意见。\n{closing}2019年3月15日\n"
    metadata = detect_metadata(text)
    assert metadata.issuer == issuer
    assert metadata.level == "national"


@pytest.mark.parametrize(
    "issuer_line, level, province, city, county",
    [
        ("教育部", "national", None, None, None),
        ("浙江省教育厅", "provincial", "浙江省", None, None),
        ("宁波市人民政府", "municipal", "浙江省", "宁波市", None),
        ("义乌市人民政府", "county", "浙江省", "金华市", "义乌市"),
        ("北京市教育委员会", "provincial", "北京市", None, None),
        ("北京市海淀区教育委员会", "county", "北京市", None, "海淀区"),
        ("重庆市巫山县人民政府", "county", "重庆市", None, "巫山县"),
        ("新疆生产建设兵团教育局", "provincial", "新疆生产建设兵团", None, None),
    ],
)
def test_metadata_level_from_flag(issuer_line, level, province, city, county):
    text = f"{issuer_line}文件\n{issuer_line}关于加强职业教育工作的通知\n各有关单位：\n现将有关事项通知如下。\n"
    metadata = detect_metadata(text)
    assert metadata.issuer == issuer_line
    assert (metadata.level, metadata.province, metadata.city, metadata.county) == (level, province, city, county)
    assert metadata.level_ambiguous is False


def test_metadata_level_from_running_header():
    text = "宁政发〔2023〕18号\n关于推进县域职业教育产教融合发展的实施意见\n各乡镇人民政府、街道办事处：\n现提出如下意见。\n"
    metadata = detect_metadata(text, running_headers=("宁 阳 县 人 民 政 府 文 件", "— 2 —"))
    assert metadata.issuer == "宁阳县人民政府"
    assert (metadata.level, metadata.county) == ("county", "宁阳县")


def test_metadata_ningyang_with_colliding_prefix_is_county():
    text = (
        "宁阳县人民政府文件\n宁政发〔2023〕18号\n宁阳县人民政府关于推进县域职业教育\n产教融合发展的实施意见\n"
        "各乡镇人民政府、街道办事处，县政府各部门：\n县域职业教育是重要支撑。\n宁阳县人民政府\n2023年8月30日\n"
    )
    metadata = detect_metadata(text)
    assert metadata.title == "宁阳县人民政府关于推进县域职业教育产教融合发展的实施意见"
    assert (metadata.level, metadata.province, metadata.city, metadata.county) == ("county", "山东省", "泰安市", "宁阳县")
    assert metadata.level_ambiguous is False
    assert "文号 宁政发 agrees" in metadata.level_evidence


def test_metadata_colliding_prefix_alone_is_ambiguous():
    metadata = detect_metadata("宁政发〔2023〕18号\n关于推进职业教育产教融合发展的实施意见\n为推进产教融合，提出如下意见。\n")
    assert metadata.level is None
    assert metadata.level_ambiguous is True
    assert "宁夏回族自治区" in metadata.level_evidence and "宁阳县" in metadata.level_evidence


def test_metadata_placeless_title_uses_closing():
    text = (
        "县人民政府办公室关于印发县域职业教育发展方案的通知\n宁政办发（2023）5号\n"
        "各乡镇人民政府、街道办事处，县政府各部门：\n现将方案印发给你们。\n宁阳县人民政府办公室\n2023年6月1日\n"
    )
    metadata = detect_metadata(text)
    assert metadata.issuer == "宁阳县人民政府办公室"
    assert (metadata.level, metadata.county) == ("county", "宁阳县")


@pytest.mark.parametrize(
    "text, title, issuer, level, province, city",
    [
        (
            "# 浙江省实施《中华人民共和国职业教育法》办法\n\n"
            "1997年9月5日 浙江省第八届人民代表大会常务委员会第三十九次会议通过\n\n<!-- INFO END -->\n\n"
            "第一条 为实施《中华人民共和国职业教育法》，制定本办法。\n",
            "浙江省实施《中华人民共和国职业教育法》办法", "浙江省人民代表大会常务委员会", "provincial", "浙江省", None,
        ),
        (
            "宁波市中等职业教育条例\n"
            "（1995年3月31日宁波市第十届人民代表大会常务委员会第十七次会议通过）\n"
            "第一章 总则\n第一条 为促进中等职业教育发展，制定本条例。\n",
            "宁波市中等职业教育条例", "宁波市人民代表大会常务委员会", "municipal", "浙江省", "宁波市",
        ),
        (
            "# 中华人民共和国职业教育法\n\n1996年5月15日 第八届全国人民代表大会常务委员会第十九次会议通过\n\n"
            "<!-- INFO END -->\n\n## 第一章 总则\n\n第一条 为了发展职业教育，制定本法。\n",
            "中华人民共和国职业教育法", "全国人民代表大会常务委员会", "national", None, None,
        ),
    ],
)
def test_metadata_people_congress_legislation(text, title, issuer, level, province, city):
    metadata = detect_metadata(text)
    assert (metadata.title, metadata.issuer, metadata.doc_number) == (title, issuer, None)
    assert (metadata.level, metadata.province, metadata.city) == (level, province, city)


def test_metadata_law_date_is_the_last_amendment():
    text = (
        "# 河南省实施《中华人民共和国职业教育法》办法\n\n"
        "1997年7月25日 河南省第八届人民代表大会常务委员会第二十七次会议通过\n\n"
        "2010年7月30日 河南省第十一届人民代表大会常务委员会第十六次会议修正\n\n"
        "2010年9月1日 施行\n\n<!-- INFO END -->\n\n第一条 为了实施职业教育法，制定本办法。\n"
    )
    metadata = detect_metadata(text)
    assert (metadata.date, metadata.level, metadata.province) == ("2010-07-30", "provincial", "河南省")


def test_metadata_title_place_when_no_issuer():
    metadata = detect_metadata("慈溪市教育改革与发展“十四五”规划\n为办好人民满意的教育，制定本规划。\n")
    assert metadata.issuer is None
    assert (metadata.level, metadata.city, metadata.county) == ("county", "宁波市", "慈溪市")


@pytest.mark.parametrize(
    "issuer, doc_number, year, expected",
    [
        ("教育部办公厅", "教职成厅函〔2023〕23号", 2023,
         LevelResolution("national", evidence="issuer 教育部办公厅: central organ 教育部; 文号 教职成厅函 agrees")),
        ("国家发展改革委、教育部", None, 2019,
         LevelResolution("national", evidence="issuer 国家发展改革委: central organ 国家发展和改革委员会")),
        ("宁波市人民政府", "甬政发〔2014〕74号", 2014,
         LevelResolution("municipal", "浙江省", "宁波市", None, "issuer 宁波市人民政府: municipal 浙江省 宁波市; 文号 甬政发 agrees")),
        ("义乌市人民政府", None, 2023,
         LevelResolution("county", "浙江省", "金华市", "义乌市", "issuer 义乌市人民政府: county 浙江省 金华市 义乌市")),
        ("北京市海淀区人民政府", None, 2023,
         LevelResolution("county", "北京市", None, "海淀区", "issuer 北京市海淀区人民政府: county 北京市 海淀区")),
        ("上海市教育委员会", None, 2023,
         LevelResolution("provincial", "上海市", None, None, "issuer 上海市教育委员会: provincial 上海市")),
        ("萧山市人民政府", None, 2000,  # a 县级市 in 2000, a 区 today: the year's divisions decide
         LevelResolution("county", "浙江省", "杭州市", "萧山市", "issuer 萧山市人民政府: county 浙江省 杭州市 萧山市")),
        ("宁阳县人民政府", "宁政发〔2025〕6号", 2025,
         LevelResolution("county", "山东省", "泰安市", "宁阳县", "issuer 宁阳县人民政府: county 山东省 泰安市 宁阳县; 文号 宁政发 agrees")),
        ("宁夏回族自治区人民政府", "宁政发〔2024〕16号", 2024,
         LevelResolution("provincial", "宁夏回族自治区", None, None,
                         "issuer 宁夏回族自治区人民政府: provincial 宁夏回族自治区; 文号 宁政发 agrees")),
        ("浙江省教育厅", "甬教〔2023〕1号", 2023,
         LevelResolution("provincial", "浙江省", None, None,
                         "issuer 浙江省教育厅: provincial 浙江省; 文号 甬教 disagrees (municipal 浙江省 宁波市)")),
        ("浙江省人民代表大会常务委员会", None, 2020,
         LevelResolution("provincial", "浙江省", None, None, "issuer 浙江省人民代表大会常务委员会: provincial 浙江省")),
        ("新疆生产建设兵团", "新兵发〔2020〕1号", 2020,
         LevelResolution("provincial", "新疆生产建设兵团", None, None,
                         "issuer 新疆生产建设兵团: provincial 新疆生产建设兵团; 文号 新兵发 agrees")),
        ("宁波国家高新区管委会", None, 2023,
         LevelResolution("municipal", "浙江省", "宁波市", None,
                         "issuer 宁波国家高新区管委会: municipal 浙江省 宁波市; dispatched (a zone body takes its parent's level)")),
        ("上海市浦东新区人民政府", None, 2023,  # a real district, not a dispatched zone
         LevelResolution("county", "上海市", None, "浦东新区", "issuer 上海市浦东新区人民政府: county 上海市 浦东新区")),
        ("东阳市横店镇人民政府", None, 2023,
         LevelResolution(None, "浙江省", "金华市", "东阳市", "township (out of scope): 东阳市横店镇人民政府")),
        ("余杭区仓前街道办事处", None, 2023,
         LevelResolution(None, "浙江省", "杭州市", "余杭区", "township (out of scope): 余杭区仓前街道办事处")),
        (None, "宁政发〔2023〕1号", 2023,
         LevelResolution(evidence="ambiguous: 文号 宁政发: provincial 宁夏回族自治区 | county 山东省 宁阳县 | municipal 江苏省 南京市",
                         ambiguous=True)),
        (None, "闽教职成〔2024〕4号", 2024,
         LevelResolution("provincial", "福建省", evidence="文号 闽教职成: provincial 福建省")),
        (None, "发改社会〔2024〕327号", 2024, LevelResolution("national", evidence="文号 发改社会: national")),
        ("教育厅", None, 2023, LevelResolution(evidence="issuer 教育厅: no place, not a central organ", ambiguous=True)),
        ("县人民政府办公室", "宁政办发〔2023〕5号", 2023,
         # the best reading, but flagged: the table cannot list every 宁… county (宁海县? 宁陵县?)
         LevelResolution("county", "山东省", "泰安市", "宁阳县",
                         "unconfirmed: 文号 宁政办发: provincial 宁夏回族自治区 | county 山东省 宁阳县 | "
                         "municipal 江苏省 南京市; narrowed by issuer 县人民政府办公室 (no place name) to county 山东省 宁阳县",
                         ambiguous=True)),
        ("县人民政府办公室", None, 2023,
         LevelResolution("county", evidence="ambiguous: issuer 县人民政府办公室 (no place name): county", ambiguous=True)),
        (None, None, None, LevelResolution()),
    ],
)
def test_divisions_resolve_level(issuer, doc_number, year, expected):
    assert resolve_level(issuer, doc_number, year) == expected


@pytest.mark.parametrize(
    "addressees, level, ambiguous",
    [
        ("各省、自治区、直辖市教育厅（教委）：", "national", False),
        ("各市、县（市、区）人民政府，省政府直属各单位：", "provincial", True),
        ("各乡镇人民政府、街道办事处：", "county", True),
        ("各区人民政府，市政府各委、办、局：", None, True),  # a prefecture city or a 直辖市
    ],
)
def test_divisions_addressees_are_one_level_down(addressees, level, ambiguous):
    resolution = resolve_level(None, None, 2023, addressees=addressees)
    assert (resolution.level, resolution.ambiguous) == (level, ambiguous)


def test_divisions_addressees_narrow_a_colliding_prefix():
    resolution = resolve_level(None, "宁政发〔2024〕16号", 2024, addressees="各市、县（区）人民政府，自治区政府各部门：")
    assert (resolution.level, resolution.province, resolution.ambiguous) == ("provincial", "宁夏回族自治区", False)


def test_metadata_title_on_three_lines():
    text = ("宁波市人民政府办公厅文件\n甬政办发〔2023〕30号\n宁波市人民政府办公厅关于印发宁波市\n"
            "深化产教融合推进职业教育高质量发展\n三年行动计划的通知\n各区（县、市）人民政府：\n现印发给你们，请认真贯彻执行。\n")
    assert detect_metadata(text).title == "宁波市人民政府办公厅关于印发宁波市深化产教融合推进职业教育高质量发展三年行动计划的通知"


def test_divisions_ministry_code_behind_an_unknown_place_is_a_local_department():
    # 临 is not a province's abbreviation: 临发改社会 is a city's or county's development-and-reform bureau
    alone = resolve_level(None, "临发改社会〔2024〕45号", 2024)
    assert (alone.level, alone.ambiguous) == (None, True) and "municipal | county" in alone.evidence
    narrowed = resolve_level(None, "临发改社会〔2024〕45号", 2024, addressees="各县区发展改革局、教体局：")
    assert (narrowed.level, narrowed.ambiguous) == ("municipal", True)
    assert resolve_level(None, "津发改社会〔2018〕26号", 2018).level == "provincial"


@pytest.mark.parametrize(("text", "levels"), [
    ("各县（市、区）人民政府要将产教融合纳入规划。", ["county"]),
    ("县级以上人民政府应当设立职业教育专项资金。", ["county_and_above"]),
    ("各省、自治区、直辖市教育厅（教委）要认真组织实施。", ["provincial"]),
    ("省教育厅会同省财政厅制定实施细则。", ["provincial"]),
    ("市教育局会同市发展改革委建立工作专班。", ["municipal"]),
    ("各乡镇（街道）要加大政策宣传力度。", ["township"]),
    ("国务院有关部门和县级以上地方人民政府应当支持职业教育。", ["national", "county_and_above"]),
    ("企业应当按规定支付实习报酬。", []),
    ("本省职业学校应当开设实践课程。", []),
    ("各市场主体要诚信经营，促进各区域协调发展。", []),
])
def test_divisions_levels_a_clause_is_addressed_to(text, levels):
    from pipeline.divisions import addressed_levels

    assert addressed_levels(text) == levels


def test_metadata_city_prefix_behind_a_province_abbreviation_is_not_provincial():
    # 苏府 is 苏州市人民政府's 代字 (江苏省 writes 苏政): without an issuer line it is a city, flagged for a check
    alone = detect_metadata("关于印发职业教育专项资金管理办法的通知\n苏府〔2024〕5号\n各有关单位：\n"
                            "一、对认定的实训基地给予一次性奖励50万元。\n2024年1月5日\n")
    assert (alone.level, alone.city, alone.level_ambiguous) == ("municipal", "苏州市", True)
    assert "provincial" not in alone.level_evidence
    with_issuer = resolve_level("苏州市人民政府办公室", "苏府办〔2024〕33号", 2024)
    assert (with_issuer.level, with_issuer.ambiguous) == ("municipal", False)
    assert with_issuer.evidence.endswith("文号 苏府办 agrees")
    assert resolve_level("江苏省人民政府", "苏政发〔2022〕12号", 2022).evidence.endswith("文号 苏政发 agrees")


@pytest.mark.parametrize(("doc_number", "level", "city"), [
    ("鄂州政发〔2020〕13号", "municipal", "鄂州市"),  # 鄂州市人民政府, not 湖北省 (鄂政发)
    ("赣市府发〔2017〕20号", "municipal", "赣州市"),  # 赣州市人民政府, not 江西省 (赣府发)
])
def test_divisions_city_codes_that_open_with_a_province_abbreviation(doc_number, level, city):
    resolution = resolve_level(None, doc_number, 2020)
    assert (resolution.level, resolution.city, resolution.ambiguous) == (level, city, True)


@pytest.mark.parametrize("doc_number", ["吉府发〔2019〕3号", "内府发〔2019〕3号", "浙府〔2019〕3号"])
def test_divisions_province_abbreviation_with_fu_is_a_city_or_county_where_the_province_writes_zheng(doc_number):
    # 吉林省 writes 吉政, 内蒙古 内政, 浙江 浙政: a 吉府 or 内府 code is some city's or county's (吉安? 内江?)
    resolution = resolve_level(None, doc_number, 2019)
    assert (resolution.level, resolution.ambiguous) == (None, True)
    assert "municipal | county" in resolution.evidence and "provincial" not in resolution.evidence
    settled = resolve_level("吉安市人民政府", doc_number, 2019)
    assert (settled.level, settled.city, settled.ambiguous) == ("municipal", "吉安市", False)


@pytest.mark.parametrize(("doc_number", "province"), [
    ("赣府发〔2017〕20号", "江西省"), ("沪府发〔2024〕4号", "上海市"), ("粤府〔2020〕1号", "广东省"),
    ("川府发〔2020〕1号", "四川省"), ("黔府发〔2020〕1号", "贵州省"), ("琼府〔2020〕1号", "海南省"),
    ("渝府发〔2020〕1号", "重庆市"),
])
def test_divisions_provinces_that_write_fu_keep_their_fu_codes(doc_number, province):
    resolution = resolve_level(None, doc_number, 2020)
    assert (resolution.level, resolution.province, resolution.ambiguous) == ("provincial", province, False)


def test_metadata_city_prefix_settled_by_organs_acting_in_the_body():
    text = ("关于开展职业院校实训基地认定工作的通知\n苏府〔2024〕6号\n各有关单位：\n"
            "一、苏州市教育局、苏州市财政局将对认定的实训基地给予奖励。\n2024年2月1日\n")
    metadata = detect_metadata(text)
    assert (metadata.level, metadata.city, metadata.level_ambiguous) == ("municipal", "苏州市", False)
    assert "苏州市教育局" in metadata.level_evidence


def test_divisions_ning_codes_of_ningxia_and_nanjing_are_ambiguous_alone():
    for doc_number in ("宁政发〔2024〕16号", "宁政办发〔2024〕3号"):
        resolution = resolve_level(None, doc_number, 2024)
        assert (resolution.level, resolution.ambiguous) == (None, True)
        assert "宁夏回族自治区" in resolution.evidence and "南京市" in resolution.evidence
    nanjing = resolve_level("南京市人民政府", "宁政发〔2024〕16号", 2024)
    assert (nanjing.level, nanjing.city, nanjing.ambiguous) == ("municipal", "南京市", False)
    assert nanjing.evidence.endswith("文号 宁政发 agrees")
