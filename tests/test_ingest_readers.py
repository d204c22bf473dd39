"""Readers: real files in, canonical text (or one clear InputError) out."""
import codecs

import pytest

from pipeline.errors import InputError
from pipeline.ingest import docx as docx_reader
from pipeline.ingest import html as html_reader
from pipeline.ingest import pdf as pdf_reader
from pipeline.ingest import text as text_reader
from tests.conftest import make_pdf

LONG = ("一、对认定为产教融合型企业的，按其当年实际投入给予最高不超过50万元的一次性奖励，所需经费从职业教育"
        "专项资金中列支，任何单位不得挪用、截留专项资金。")
SECOND = "二、对未按期完成整改的院校，取消其当年评优评先资格，并予以通报批评。"


@pytest.mark.parametrize("engine", pdf_reader.ENGINES)
def test_pdf_reader_keeps_every_chinese_character_and_drops_furniture(tmp_path, engine):
    pages = [["浙江省教育厅关于推进产教融合的通知", LONG, SECOND] * 3, [SECOND, LONG] * 2, [LONG]]
    path = make_pdf(tmp_path / "notice.pdf", pages, header="浙江省教育厅文件", footer="— {n} —")
    source = pdf_reader.read(path, engine=engine)
    assert source.page_count == 3
    assert source.running_headers == ("浙江省教育厅文件",)
    lines = source.text.split("\n")
    # each paragraph comes back whole: broken lines re-joined, headers and page numbers gone
    assert lines == [p for page in pages for p in page]
    assert [s.number for s in source.pages] == [1, 2, 3]
    assert source.text[source.pages[2].start:source.pages[2].end] == LONG


@pytest.mark.parametrize("footer", ["-{n}-", "第{n}页 共{total}页", "{n}"])
def test_pdf_reader_removes_page_number_styles(tmp_path, footer):
    path = make_pdf(tmp_path / "p.pdf", [[LONG], [SECOND]], footer=footer)
    assert pdf_reader.read(path).text == f"{LONG}\n{SECOND}"


def test_pdf_reader_paragraph_split_across_pages_is_joined(tmp_path):
    head, tail = LONG[:60], LONG[60:]
    path = make_pdf(tmp_path / "p.pdf", [[SECOND, head], [tail]], wrap_at=30)
    source = pdf_reader.read(path)
    assert source.text == f"{SECOND}\n{LONG}"
    assert source.pages[1].start == len(SECOND) + 1 + 60


@pytest.mark.parametrize("name, code", [
    ("encrypted.pdf", "pdf-encrypted"),
    ("corrupt.pdf", "pdf-corrupt"),
    ("zero_pages.pdf", "pdf-no-pages"),
    ("scanned.pdf", "pdf-no-text-layer"),
])
@pytest.mark.parametrize("engine", pdf_reader.ENGINES)
def test_pdf_reader_names_the_problem(bad_inputs, name, code, engine):
    with pytest.raises(InputError) as raised:
        pdf_reader.read(bad_inputs / name, engine=engine)
    assert raised.value.code == code
    message = str(raised.value)
    assert name in message and "\n" not in message


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "gb18030", "gbk", "big5"])
def test_text_reader_detects_encodings(tmp_path, encoding):
    content = ("问：贵公司参与校企合作的主要方式有哪些？\n答：我们和两所高职院校共建了产业学院，每年接收实习生一百多人，"
               "政府给的补贴主要用于实训设备。\n问：您觉得政策落地的难点在哪里？\n答：审批环节多，资金拨付慢。\n")
    if encoding == "big5":
        content = content.replace("贵公司", "貴公司")  # a text actually written in Traditional script
        content = "".join(ch for ch in content if ch.encode("big5", "ignore"))
    path = tmp_path / f"interview_{encoding}.txt"
    path.write_bytes(content.encode(encoding))
    source = text_reader.read(path)
    assert source.text == content.strip("\n")


def test_text_reader_refuses_garbage(bad_inputs):
    with pytest.raises(InputError) as raised:
        text_reader.read(bad_inputs / "binary.txt")
    assert raised.value.code == "text-undecodable"


def test_text_reader_bom_and_crlf(tmp_path):
    path = tmp_path / "a.md"
    path.write_bytes(codecs.BOM_UTF8 + "# 标题\r\n\r\n第一条 内容。\r\n".encode())
    source = text_reader.read(path)
    assert source.text == "# 标题\n\n第一条 内容。" and source.source_format == "md"


def test_docx_reader_keeps_paragraphs_and_tables_in_order(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("宁波市教育局关于公布产教融合型企业名单的通知")
    document.add_paragraph("一、名单见附表。")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "序号", "企业名称"
    table.cell(1, 0).text, table.cell(1, 1).text = "1", "宁波某某智能制造有限公司"
    document.add_paragraph("二、各地要加强管理。")
    document.save(tmp_path / "list.docx")
    source = docx_reader.read(tmp_path / "list.docx")
    assert source.text.split("\n") == ["宁波市教育局关于公布产教融合型企业名单的通知", "一、名单见附表。",
                                       "序号\t企业名称", "1\t宁波某某智能制造有限公司", "二、各地要加强管理。"]


def test_docx_reader_refuses_broken_file(bad_inputs):
    with pytest.raises(InputError) as raised:
        docx_reader.read(bad_inputs / "broken.docx")
    assert raised.value.code == "docx-corrupt"


def test_html_reader_finds_the_article_inside_site_chrome(tmp_path):
    page = """<html><head><meta charset="gbk"><title>通知</title></head><body>
    <div class="top"><a href="/">首页</a> <a href="/zc">政策文件</a> <a href="/xw">新闻动态</a></div>
    <div class="wrap"><div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/zc">政策文件</a></div>
    <div class="article"><h1>关于开展市域产教联合体建设的通知</h1>
    <p>各区（县、市）教育局：</p><p>一、建设目标。到2025年建成3个联合体。</p>
    <p>二、支持政策。对成效显著的给予以奖代补。<br>三、工作要求。不得弄虚作假。</p></div></div>
    <div class="footer">网站标识码 3302000001 <a href="/map">网站地图</a></div>
    <script>var x = 1;</script></body></html>"""
    path = tmp_path / "page.html"
    path.write_bytes(page.encode("gbk"))
    source = html_reader.read(path)
    assert source.text.split("\n") == ["关于开展市域产教联合体建设的通知", "各区（县、市）教育局：",
                                       "一、建设目标。到2025年建成3个联合体。", "二、支持政策。对成效显著的给予以奖代补。",
                                       "三、工作要求。不得弄虚作假。"]


def test_read_source_names_a_file_that_disappeared(tmp_path):
    from pipeline.ingest import read_source

    gone = tmp_path / "gone.pdf"
    with pytest.raises(InputError) as raised:
        read_source(gone)
    assert raised.value.code == "file-missing" and "gone.pdf" in str(raised.value)


def test_pdf_reader_lists_pages_without_text_layer(tmp_path, bad_inputs):
    import pypdf

    text_pdf = make_pdf(tmp_path / "text.pdf", [[LONG], [SECOND]])
    writer = pypdf.PdfWriter(clone_from=text_pdf)
    writer.append(bad_inputs / "scanned.pdf")
    writer.write(tmp_path / "mixed.pdf")
    source = pdf_reader.read(tmp_path / "mixed.pdf")
    assert source.page_count == 4 and source.pages_without_text == (3, 4)
    assert source.text == f"{LONG}\n{SECOND}"


@pytest.mark.parametrize("content", ["file,group\na.txt,企业\n", "补贴", "file,group,role\ng01.txt,政府,局长\n"])
def test_text_reader_short_gbk_is_not_read_as_big5(tmp_path, content):
    # charset-normalizer alone reads these as Big5 ("企业" → "き珛")
    path = tmp_path / "short.txt"
    path.write_bytes(content.encode("gbk"))
    assert text_reader.read(path).text == content.strip("\n")


def test_html_reader_inline_markup_does_not_break_lines(tmp_path):
    page = ("<html><body><div class='article'><h1>办法</h1><p>第三条　符合本办法<span>第二条</span>规定的企业，"
            "可以申请<b>一、</b>二类补贴。</p><p>到<a href='#'>2025</a>年建成<em>10</em>个基地。</p></div></body></html>")
    path = tmp_path / "inline.html"
    path.write_text(page, encoding="utf-8")
    assert html_reader.read(path).text.split("\n") == [
        "办法", "第三条　符合本办法第二条规定的企业，可以申请一、二类补贴。", "到2025年建成10个基地。"]


def test_docx_reader_renders_word_automatic_numbering(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("关于推进产教融合的通知")
    document.add_paragraph("给予产教融合型企业奖励。", style="List Number")
    document.add_paragraph("专项资金不得挪用。", style="List Number")
    document.save(tmp_path / "numbered.docx")
    assert docx_reader.read(tmp_path / "numbered.docx").text.split("\n") == [
        "关于推进产教融合的通知", "1.给予产教融合型企业奖励。", "2.专项资金不得挪用。"]
