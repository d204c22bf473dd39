import pytest

from pipeline.clean import Line, clean_pages, is_page_number, normalize


@pytest.mark.parametrize("line", ["— 3 —", "-3-", "- 12 -", "3", "第3页 共15页", "第 3 页", "Page 4 of 9", "4/9", "—iv—"])
def test_clean_recognises_page_numbers(line):
    assert is_page_number(line)


@pytest.mark.parametrize("line", ["3. 加强考核", "2023年", "一、总体要求", "第三条", "1.5万元"])
def test_clean_keeps_lines_that_are_not_page_numbers(line):
    assert not is_page_number(line)


def test_clean_normalize_nfc_lf_invisible():
    assert normalize("a\r\nb\rc\u200b\ufeffd\x07 \n") == "a\nb\ncd\n"
    assert normalize("e\u0301") == "\u00e9"


def test_clean_strips_pinyin_glosses_of_reposted_pages():
    # decomposed tone marks (u + U+0304) are composed first, so they are glosses too
    glossed = "教育部办公厅关(gua\u0304n)于公布第一批市域产(chǎn)教联(lián)合体名单的(de)通知（教职成厅函〔2023〕23号）"
    assert normalize(glossed) == "教育部办公厅关于公布第一批市域产教联合体名单的通知（教职成厅函〔2023〕23号）"
    # without a toned gloss nothing is a gloss: item letters and English asides stay
    assert normalize("附件(a)和附件(b)；职业教育(TVET)") == "附件(a)和附件(b)；职业教育(TVET)"
    # a PDF page with glosses is normalised line by line like any other
    text, _, _ = clean_pages([_page("关于深化产(chǎn)教融合的", "若干意见(yì)", "第一条 总则")])
    assert text == "关于深化产教融合的\n若干意见\n第一条 总则"


def _page(*lines, full=()):
    return [Line(text, full_width=i in full) for i, text in enumerate(lines)]


def test_clean_removes_running_headers_footers_and_keeps_page_map():
    pages = [
        _page("宁波市教育局文件", "第一页正文开头", "正文第二行。", "— 1 —"),
        _page("宁波市教育局文件", "第二页正文。", "— 2 —"),
        _page("宁波市教育局文件", "第三页正文。", "第3页 共3页"),
    ]
    text, spans, removed = clean_pages(pages)
    assert removed == ("宁波市教育局文件",)
    assert "文件" not in text and "—" not in text and "页 共" not in text
    assert text == "第一页正文开头\n正文第二行。\n第二页正文。\n第三页正文。"
    assert [(s.number, text[s.start:s.end]) for s in spans] == [
        (1, "第一页正文开头\n正文第二行。"), (2, "第二页正文。"), (3, "第三页正文。")]


def test_clean_header_with_page_number_inside_is_furniture():
    bodies = [("校企合作。", "产业学院。", "实训基地。"), ("双师型教师。", "专项资金。", "考核评价。"),
              ("现代学徒制。", "以奖代补。", "限期整改。")]
    pages = [_page(f"职业教育简报 第{n}期 {n}", *body) for n, body in enumerate(bodies, start=1)]
    text, _, removed = clean_pages(pages)
    assert text.split("\n")[:3] == ["校企合作。", "产业学院。", "实训基地。"]
    assert "简报" not in text
    assert removed == ("职业教育简报 第1期 1",)


def test_clean_rejoins_width_broken_lines_without_spaces_across_pages():
    pages = [
        _page("一、对认定为产教融合型企业的，给予最", "高不超过50万元的奖励，专项资金", full=(0, 1)),
        _page("不得挪用。", "二、建立考核制度。"),
    ]
    text, spans, _ = clean_pages(pages)
    assert text == "一、对认定为产教融合型企业的，给予最高不超过50万元的奖励，专项资金不得挪用。\n二、建立考核制度。"
    # the second page begins inside the first line
    assert text[spans[1].start:spans[1].end] == "不得挪用。\n二、建立考核制度。"


@pytest.mark.parametrize("first, second", [
    ("一、总体要求", "（一）指导思想"),        # the next line opens a numbered item
    ("现将有关事项通知如下：", "各单位要落实。"),  # a colon ends the line
    ("专项资金不得挪用。", "下一段"),            # a full stop ends the line
    ("浙江省教育厅", "2023年5月6日"),           # a date line is never glued on
])
def test_clean_never_joins_author_breaks(first, second):
    text, _, _ = clean_pages([_page(first, second, full=(0,))])
    assert text == f"{first}\n{second}"


def test_clean_short_lines_are_not_joined():
    text, _, _ = clean_pages([_page("关于推进产教融合的", "实施意见")])
    assert text == "关于推进产教融合的\n实施意见"


def test_clean_latin_words_get_a_space_when_joined():
    text, _, _ = clean_pages([_page("Enterprises that host", "apprentices receive a grant.", full=(0,))])
    assert text == "Enterprises that host apprentices receive a grant."


def test_clean_date_line_reaching_the_margin_is_not_glued_to_the_note():
    text, _, _ = clean_pages([_page("宁阳县人民政府", "2023年6月15日", "（此件公开发布）", full=(1,))])
    assert text == "宁阳县人民政府\n2023年6月15日\n（此件公开发布）"
