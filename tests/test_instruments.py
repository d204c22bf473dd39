"""Policy instruments: the rules and their context rules, the gold set, the trained model, coding
sheets, human labels that machine runs never override, and the paper's tables."""
from __future__ import annotations

import csv
import json
import math
import shutil
import sqlite3
import warnings

import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner

from pipeline import db as store
from pipeline import init_project, open_project
from pipeline.cli import cli
from pipeline.errors import CodingWarning, ConfigError, InputError, ProjectError
from pipeline.instrument_report import crosstab
from pipeline.instruments import classify
from pipeline.records import LEVELS
from pipeline.schemes import load_scheme

from tests.conftest import DEMO, REPO

GOLD = REPO / "corpora" / "gold" / "demo_instruments.csv"


@pytest.mark.parametrize(("text", "context", "labels", "primary"), [
    ("对认定的企业给予一次性奖励50万元。", None, {"incentive"}, "incentive"),
    ("对违反规定的人员，依法给予处分。", None, {"constraint"}, "constraint"),  # the object decides
    ("弄虚作假的企业三年内不得享受相关补贴。", None, {"constraint"}, "constraint"),  # a denied benefit
    ("任何单位和个人不得挪用、截留专项资金。", None, {"constraint"}, "constraint"),  # money as object of a wrong
    ("严禁以虚假培训套取补贴资金。", None, {"constraint"}, "constraint"),
    ("鼓励企业参与举办职业教育。", None, {"hortatory"}, "hortatory"),  # rhetoric without money
    ("鼓励企业参与，对参与成效突出的企业给予奖励。", None, {"incentive"}, "incentive"),  # money wins
    ("县级以上人民政府应当按照规定给予补贴。", None, {"incentive", "constraint"}, "incentive"),
    ("本办法自2024年1月1日起施行。", None, {"none"}, "none"),
    # the items of a fund's scope are what it offers; uses laid down with what money may not pay for rule its spending
    ("（二）企业派遣技术骨干到职业院校兼职任教的，按照每人每年1万元给予补助。", "第五条 奖补资金的支持范围和标准如下：",
     {"incentive"}, "incentive"),
    ("奖补资金主要用于实践教学、实训设备维护更新，不得用于发放奖金和偿还债务。", None, {"constraint"}, "constraint"),
    ("专项资金不得用于偿还债务、对外投资、发放人员津补贴。", None, {"constraint"}, "constraint"),
    # an applicant's papers are procedure (GUIDE.md), even with the lead-in's 应当 and 负责; a licence's conditions bind
    ("（一）身份证件；", "申请时应当提交下列材料，并对材料的真实性负责：", {"none"}, "none"),
    ("申报单位应当提交下列材料，并对材料的真实性负责：", None, {"constraint"}, "constraint"),
    ("（五）开办资金不少于50万元。", "第四条 设立民办职业培训学校，应当具备下列条件：", {"constraint"}, "constraint"),
    ("（一）坚持分类评价，区分高职和中职实施差异化考核评价；", "第三条 考核评价坚持以下原则：", {"none"}, "none"),
    # a title's conditions stay none, papers owed by a title's holders a duty; a fee waived is relief
    ("（二）所在单位能够提供必要的场地和经费支持；", "申请设立市级技能大师工作室，应当具备下列条件：", {"none"}, "none"),
    ("（一）上年度校企合作情况报告；", "已认定的产教融合型企业应当于每年3月底前提交下列材料：", {"constraint"}, "constraint"),
    ("对符合条件的困难学生一律不收取住宿费。", None, {"incentive"}, "incentive"),
    # a fund set aside for uses is an offer; the matching share laid on lower governments a duty (GUIDE.md)
    ("市财政每年统筹安排产教融合专项资金不少于3000万元，各区按照不低于1:1的比例配套安排资金。", None,
     {"incentive", "constraint"}, "incentive"),
    # a floor on public spending with no fund offered is a duty on the government, as is seeing to it
    ("督促各县落实生均拨款制度，生均公用经费拨款标准不低于每生每年2000元。", None, {"constraint"}, "constraint"),
    # a duty laid on a government body is a mandate even when its act is a planning word
    ("市、区（市）人民政府应当加强职业教育公共实训基地建设。", None, {"constraint"}, "constraint"),
    ("职业教育应当坚持立德树人。", None, {"none"}, "none"),  # a value, no checkable duty
    # a duty to persuade has no checkable act; a duty to publish a list does
    ("各地要加强政策宣传，营造全社会支持职业教育的良好氛围。", None, {"hortatory"}, "hortatory"),
    ("各地要于每年3月底前报送年度工作总结。", None, {"constraint"}, "constraint"),
    # pay owed to interns is an obligation on the firm; a firm rewarded for taking interns is induced
    ("实习单位可以给予实习学生适当补贴。", None, {"constraint"}, "constraint"),
    ("企业应当按时足额向实习生发放补贴。", None, {"constraint"}, "constraint"),
    ("对接收学生实习的企业，按每人每月500元给予实习补贴。", None, {"incentive"}, "incentive"),
    ("对接收实习学生的企业，给予每人每月500元补贴。", None, {"incentive"}, "incentive"),
    ("当事人对行政处罚决定不服的，可以依法申请行政复议。", None, {"none"}, "none"),  # a remedy, no sanction
    ("对有关责任人员，由主管部门免除其职务。", None, {"constraint"}, "constraint"),
    ("三、享受激励政策", "入选企业按规定享受下列政策：", {"incentive"}, "incentive"),  # an item under a lead-in is read with it
    ("（一）弄虚作假、骗取资格的；", "有下列情形之一的，取消其认定资格：", {"constraint"}, "constraint"),  # lead-in
    # money that is the object of a wrong, taken back, barred by the lead-in, or only administered by a body
    ("以虚报、冒领等手段骗取专项资金或者其他财政补助的，责令退回。", None, {"constraint"}, "constraint"),
    ("已享受的政策支持予以追回。", None, {"constraint"}, "constraint"),
    ("同一项目已获得市级财政资金支持的，不得重复申报。", None, {"constraint"}, "constraint"),
    ("（一）人员工资、津贴补贴和福利支出；", "专项资金不得用于以下支出：", {"constraint"}, "constraint"),
    ("（一）企业新型学徒培养补贴；", "专项资金用于以下支出：", {"incentive", "capacity"}, "incentive"),
    ("县人力资源社会保障局负责职业技能培训补贴审核发放。", None, {"constraint", "capacity"}, "constraint"),
    # the uses a fund pays for are what it offers; a score bonus, a credit reward and land terms are benefits
    ("（二）校企共建实训基地建设；", "奖补资金主要用于以下方面：", {"incentive", "capacity"}, "incentive"),
    ("获得省级教学成果奖的，予以加分。", None, {"incentive"}, "incentive"),
    ("出现重大安全事故的，实行扣分。", None, {"constraint"}, "constraint"),
    ("对符合条件的企业实施守信激励。", None, {"incentive"}, "incentive"),
    ("职业学校建设用地可以按照划拨方式供应。", None, {"incentive"}, "incentive"),
    ("评审通过的企业纳入市级产教融合型企业建设培育库。", None, {"incentive"}, "incentive"),
    ("已纳入建设培育范围的企业，撤销其资格。", None, {"constraint"}, "constraint"),
    # a check passed is the condition of a reward, not a control; wages owed to apprentices are a duty
    ("对年度考核结果为优秀的学校，给予20万元奖励。", None, {"incentive"}, "incentive"),
    ("对经验收合格的实训基地，给予一次性补助。", None, {"incentive"}, "incentive"),
    ("对考核结果为不合格的学校，扣减下一年度奖补资金。", None, {"constraint"}, "constraint"),
    ("经考核合格的，发给培训证书。", None, {"constraint"}, "constraint"),  # a certificate's check stays a control
    ("合作企业按月向学徒支付不低于最低工资标准的津贴。", None, {"constraint"}, "constraint"),
    ("涉嫌犯罪的，依法移送司法机关处理。", None, {"constraint"}, "constraint"),
    # words holding a cue that are no instrument: an organ's name, a permission
    ("由市场监督管理局发布培训机构名录。", None, {"capacity"}, "capacity"),  # 监督 in an organ's name
    ("（五）法律法规未禁止的其他合作方式。", "学校与企业可以在下列方面合作：", {"none"}, "none"),
    # the items of a materials list name documents, and handing them in is an application's procedure
    ("（三）项目实施方案；", "申报单位提交以下申报材料：", {"none"}, "none"),
    ("（三）项目实施方案；", "申报单位应当提交下列材料：", {"none"}, "none"),
    # what a check looks at is not offered; capacity a body is urged to build is not given to it
    ("（二）职业技能培训补贴落实情况；", "考核内容包括：", {"capacity", "constraint"}, "constraint"),
    ("鼓励企业与职业学校合作，开发实训课程和教学资源。", None, {"hortatory"}, "hortatory"),
    ("申请认定示范基地，应当符合下列条件：", None, {"none"}, "none"),  # conditions for applying
    ("实训基地建设坚持政府主导、多方参与的原则。", None, {"none"}, "none"),  # a principle
    ("奖补资金主要支持以下方面：", None, {"incentive"}, "incentive"),
    ("对信用良好的企业在招投标中给予便利。", None, {"incentive"}, "incentive"),
    ("对违规企业，在评优评先等方面予以限制。", None, {"constraint"}, "constraint"),
    ("将校企合作情况纳入国有企业考核内容。", None, {"constraint"}, "constraint"),  # inside a jieba word
    # the wrong may follow the money in its sentence; money as the thing administered offers nothing
    ("培训补贴资金应当专款专用，任何单位和个人不得截留、挪用。", None, {"constraint"}, "constraint"),
    # money granted stays granted when a ban on misusing it, or a fraud clause, follows in its sentence
    ("对符合条件的企业按每人每年2000元标准给予补贴，严禁截留挪用。", None, {"incentive", "constraint"}, "incentive"),
    ("对已纳入市级产教融合型企业培育库的企业，按规定享受相关优惠政策。", None, {"incentive"}, "incentive"),
    ("加强宣传引导，建设一批高水平实训基地。", None, {"capacity", "hortatory"}, "capacity"),  # 引导, a noun here
    ("经验收合格的，予以推广。", None, {"hortatory"}, "hortatory"),  # a passed check decides nothing
    ("县人社局应当在受理补贴申请之日起15个工作日内完成审核。", None, {"constraint"}, "constraint"),
    # a date of effect closing a unit leaves the rest of it as it is
    ("对贡献突出的企业予以表彰。本意见自2025年5月1日起施行。", None, {"incentive"}, "incentive"),
    ("本办法自2025年1月1日起施行。", None, {"none"}, "none"),
    ("Colleges shall not charge students any extra fees.", None, {"constraint"}, "constraint"),
    ("The Ministry will award grants to colleges that train teachers.", None, {"incentive", "capacity"},
     "incentive"),
])
def test_rules_apply_the_context_rules(text, context, labels, primary):
    prediction = classify([text], contexts=[context])[0]
    assert (set(prediction.labels), prediction.primary) == (labels, primary), prediction.cues
    assert prediction.source == "rules" and prediction.cues and set(prediction.scores) >= labels - {"none"}


def test_a_section_heading_alone_is_no_instrument():
    heading, item = classify(["三、享受激励政策情况", "三、享受激励政策情况"], contexts=[None, "入选企业享受下列政策："])
    assert (heading.primary, set(heading.labels), heading.cues) == ("none", {"none"}, [])
    assert item.primary == "incentive"  # the same words as an item are read with their lead-in


def test_rules_explain_themselves_with_cues_and_offsets():
    text = "对弄虚作假的企业，取消其资格，不得享受补贴。"
    prediction = classify([text])[0]
    assert "取消其资格" in prediction.cues and "不得" in prediction.cues
    for hit in prediction.hits:
        assert text[hit.start:hit.end] == hit.matched
    (denied,) = [hit for hit in prediction.hits if hit.matched == "补贴"]
    assert (denied.group, denied.turned_by) == ("negated_benefit", "不得")


def test_the_second_scheme_classifies_on_its_own_axis():
    texts = ["对企业职工培训给予培训补贴。", "采取政府购买服务方式开展评估。", "依法在计算应纳税所得额时扣除。"]
    predictions = classify(texts, scheme="rothwell_zegveld")
    assert [p.primary for p in predictions] == ["supply", "demand", "environment"]


# --- the demo corpus and its gold set ---------------------------------------------------------------

@pytest.fixture(scope="module")
def coded_demo(tmp_path_factory):
    """The demo corpus ingested, with the gold set imported as coder 'gold'."""
    root = init_project(tmp_path_factory.mktemp("instruments") / "demo", "demo copy")
    shutil.copytree(DEMO, root / "corpus", dirs_exist_ok=True)
    project = open_project(root)
    project.ingest()
    result = project.import_instrument_sheet(GOLD, "gold")
    assert (len(result.codings), result.warnings) == (347, [])
    yield project
    project.close()


@pytest.fixture(scope="module")
def demo_model(coded_demo, tmp_path_factory):
    """A model trained on the demo's gold labels (2 folds), and its file."""
    return coded_demo.train_instruments(out=tmp_path_factory.mktemp("model") / "m.joblib", folds=2)


def _configure_model(root, path) -> None:
    """``[instruments] model = path`` in the project's policoder.toml, as a user sets it after training."""
    config = root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('model = ""', f'model = "{path}"'), encoding="utf-8")


def _gold_rows(split: str | None = None) -> list[dict]:
    with GOLD.open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if split in (None, row["split"])]


def test_gold_rows_still_point_at_their_text(coded_demo):
    units = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u for u in coded_demo.instrument_units()}
    for row in _gold_rows():
        assert units[row["document"], row["unit"]]["text"].replace("\n", " ").startswith(row["text_begins"])


def _scores(project, split: str | None, gold: list[dict] | None = None) -> dict:
    from pipeline.instrument_model import evaluate

    units = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u for u in project.instrument_units()}
    gold = _gold_rows(split) if gold is None else gold
    chosen = [units[row["document"], row["unit"]] for row in gold]
    predicted = classify([u["text"] for u in chosen], contexts=[u["lead_in"] for u in chosen])
    flags = project.scheme().flags  # the gold set's 0/1 columns
    truth = [{"labels": {f for f in flags if row[f] == "1"} | {row["primary"]}, "primary": row["primary"]}
             for row in gold]
    return evaluate(truth, [{"labels": p.labels, "primary": p.primary} for p in predicted], flags)


def test_rules_reach_their_floors_on_the_gold_set(coded_demo):
    # the rules were tuned on the dev documents only; test documents are held out (corpora/gold/README.md)
    held_out = _scores(coded_demo, "test")
    assert held_out["macro_f1_flags"] >= 0.71 and held_out["primary_accuracy"] >= 0.63, held_out
    overall = _scores(coded_demo, None)
    assert overall["macro_f1_flags"] >= 0.83 and overall["primary_accuracy"] >= 0.78, overall
    assert overall["flags"]["incentive"]["recall"] >= 0.9


@pytest.mark.parametrize(("held_out", "units_labelled", "macro_f1", "primary"), [
    ("heldout", 171, 0.90, 0.82), ("heldout2", 196, 0.88, 0.84), ("heldout3", 262, 0.94, 0.90), ("heldout4", 266, 0.91, 0.86),
    ("heldout5", 295, 0.84, 0.77), ("heldout6", 308, 0.86, 0.84), ("heldout7", 282, 0.89, 0.84),
    ("heldout8", 292, 0.90, 0.83), ("heldout9", 273, 0.83, 0.78), ("heldout10", 290, 0.84, 0.77),
    ("heldout11", 285, 0.85, 0.79), ("heldout12", 260, 0.79, 0.71), ("heldout13", 342, 0.80, 0.79),
    ("heldout14", 379, 0.79, 0.71), ("heldout15", 431, 0.82, 0.71), ("heldout16", 345, 0.83, 0.79),
    ("heldout17", 628, 0.69, 0.67), ("heldout18", 598, 0.76, 0.71), ("heldout19", 642, 0.62, 0.69),
    ("heldout20", 747, 0.74, 0.69), ("heldout21", 318, 0.83, 0.76), ("heldout22", 318, 0.84, 0.77),
    ("heldout23", 345, 0.83, 0.79), ("heldout24", 297, 0.89, 0.85)])
def test_rules_reach_their_floors_on_documents_written_after_the_rules(tmp_path, held_out, units_labelled, macro_f1,
                                                                       primary):
    # corpora/heldout*/: documents written and labelled blind; sets 1–5 became development sets on
    # 2026-12-02, after each had been scored once as held out; sets 6–8 followed; 9–24 were never read (corpora/gold/README.md)
    root = init_project(tmp_path / held_out, "held-out copy")
    shutil.copytree(REPO / "corpora" / held_out, root / "corpus", dirs_exist_ok=True)
    project = open_project(root)
    project.ingest()
    with (REPO / "corpora" / "gold" / f"{held_out}_instruments.csv").open(encoding="utf-8") as handle:
        gold = list(csv.DictReader(handle))
    units = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u for u in project.instrument_units()}
    assert len(gold) == len(units) == units_labelled
    for row in gold:
        assert units[row["document"], row["unit"]]["text"].replace("\n", " ").startswith(row["text_begins"])
    scores = _scores(project, None, gold)
    assert scores["macro_f1_flags"] >= macro_f1 and scores["primary_accuracy"] >= primary, scores
    project.close()


def test_human_labels_win_and_are_exported(coded_demo):
    rows = coded_demo.rows("clauses")
    assert all(row["instrument_source"] == "human:gold" for row in rows)
    result = CliRunner().invoke(cli, ["export", "clauses", "--format", "json", "--project", str(coded_demo.root)])
    exported = json.loads(result.output)
    gold = {(r["document"], r["unit"]): r for r in _gold_rows()}
    paths = {d["id"]: d["path"].removeprefix("corpus/") for d in coded_demo.rows("documents")}
    for row in exported:
        expected = gold[paths[row["doc_id"]], row["path"]]
        assert row["primary_instrument"] == expected["primary"]
        assert ("constraint" in row["instruments"]) == (expected["constraint"] == "1")
    # each clause carries its document's level and year and the levels it addresses, as the tables count them
    documents = {d["id"]: d for d in coded_demo.rows("documents")}
    assert all(row["level"] == documents[row["doc_id"]]["level"] and row["year"] == (documents[row["doc_id"]]["date"]
               or "")[:4] for row in exported)
    addressing = [row for row in exported if row["addressed_levels"]]
    assert addressing and all(level.removesuffix("_and_above") in (*LEVELS, "township")
                              for row in addressing for level in row["addressed_levels"])


def test_trained_model_is_cross_validated_by_document_and_used_when_configured(coded_demo, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", CodingWarning)  # 347 clauses in 16 documents: no caution
        model, path = coded_demo.train_instruments(out=tmp_path / "model.joblib", folds=4)
    evaluation = model.evaluation
    assert evaluation["protocol"].startswith("GroupKFold(4) by document") and evaluation["n"] == 347
    assert evaluation["macro_f1_flags"] >= 0.78 and evaluation["primary_accuracy"] >= 0.72, evaluation
    assert set(evaluation["confusion"]) == {"labels", "matrix"}
    meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["id"] == model.id and meta["seed"] == coded_demo.config.project.seed
    assert meta["scheme_digest"] == load_scheme("default").digest and len(meta["training_hash"]) == 64
    # the same labels and seed give the same model id
    again, _ = coded_demo.train_instruments(out=tmp_path / "again.joblib", folds=4)
    assert again.id == model.id and again.evaluation == evaluation

    config = coded_demo.root / "policoder.toml"
    original = config.read_text(encoding="utf-8")
    config.write_text(original.replace('model = ""', f'model = "{path}"'), encoding="utf-8")
    configured = open_project(coded_demo.root)
    try:
        configured.classify_instruments()
        uncoded = [r for r in configured.instrument_rows() if r["instrument_source"] != "human:gold"]
        assert uncoded == []  # human labels still win over the model
        machine = configured.evaluate_instruments()
        assert machine["classifier"] == f"model:{model.id}"
        with pytest.raises(ProjectError, match="nothing to suggest"):  # every unit is coded
            configured.suggest_instruments(5)
    finally:
        configured.close()
        config.write_text(original, encoding="utf-8")


def test_training_on_few_labels_warns_that_its_figures_are_unreliable_and_trains(small, tmp_path):
    (small.root / "corpus" / "notice2.txt").write_text(NOTICE.replace("县人民政府", "市人民政府").replace("500", "600"),
                                                       encoding="utf-8")
    small.ingest()
    for unit in small.instrument_units():
        primary = {"一": "incentive", "二": "constraint", "三": "hortatory"}[unit["text"][0]]
        small.label_instruments(unit["unit_id"], [primary], primary, "wang")
    caution = ("training on 6 labelled clauses in 2 documents (advised: at least 50 clauses in 5 documents, 5 examples "
               "of each label); labels with fewer than 5 examples: incentive 2, constraint 2, capacity 0, hortatory 2, "
               "system_change 0: the model is trained, but its cross-validated figures will be unreliable")
    with pytest.warns(CodingWarning, match=caution.replace("(", r"\(").replace(")", r"\)")):
        model, path = small.train_instruments(out=tmp_path / "few.joblib")
    assert path.is_file() and model.n_units == 6 and model.evaluation["n"] == 6
    result = CliRunner().invoke(cli, ["instruments", "train", "-o", str(tmp_path / "cli.joblib"), "--project",
                                      str(small.root)])
    assert result.exit_code == 0 and f"warning: {caution}" in result.stderr and "saved" in result.stdout


def test_a_model_never_calls_a_unit_with_an_instrument_primarily_none():
    # presence and primary are separate regressions: where they conflict, the present instrument wins
    from pipeline.instrument_model import _fit, examples
    from pipeline.instruments import rule_classifier
    from pipeline.tokens import TokenizerSettings

    settings = TokenizerSettings()
    texts = ["对企业给予补贴。", "按规定发放补贴。", "补贴标准另行制定。", "本办法自发布之日起施行。", "本办法由市教育局负责解释。"]
    built, ruled = examples(rule_classifier("default", settings), texts, [None] * len(texts), settings)
    # the primary regression learns none for most 补贴 units while the presence one learns incentive
    targets = [{"labels": {"incentive"}, "primary": "incentive"}] + \
        [{"labels": {"incentive", "none"}, "primary": "none"}] * 2 + [{"labels": {"none"}, "primary": "none"}] * 2
    model = _fit(built, targets, ("incentive", "constraint"), seed=1)
    (prediction,) = model.predict(built[1:2], ruled[1:2])
    assert prediction.scores["incentive"] >= 0.5 and prediction.scores["primary:none"] > 0.5, prediction.scores
    assert (prediction.primary, set(prediction.labels)) == ("incentive", {"incentive"})


def test_instrument_agreement_of_two_coders_and_the_rules_matches_scikit_learn(tmp_path):
    from sklearn.metrics import cohen_kappa_score

    root = init_project(tmp_path / "demo", "two coders")
    shutil.copytree(DEMO, root / "corpus", dirs_exist_ok=True)
    project = open_project(root)
    project.ingest()
    sheets = {coder: REPO / "corpora" / "gold" / f"demo_instruments_coder_{coder}.csv" for coder in ("a", "b")}
    for coder, sheet in sheets.items():
        assert len(project.import_instrument_sheet(sheet, coder).codings) == 347
    rows = {}
    for coder, sheet in sheets.items():
        with sheet.open(encoding="utf-8") as handle:
            rows[coder] = list(csv.DictReader(handle))
    result = project.instrument_agreement(boot=50)
    assert result["coders"] == ["a", "b"] and result["units"] == 347
    for variable in ("incentive", "constraint", "primary"):
        expected = cohen_kappa_score([r[variable] for r in rows["a"]], [r[variable] for r in rows["b"]])
        assert result["variables"][variable]["cohen_kappa"] == pytest.approx(expected)
        assert result["pairs"][0][variable]["cohen_kappa"] == pytest.approx(expected)
    # the figures corpora/gold/README.md reports for these two coders
    assert [round(result["variables"][v]["cohen_kappa"], 3) for v in ("incentive", "constraint", "primary")] == \
        [0.980, 0.814, 0.816]
    # the rules as a third coder: their κ with coder a is scikit-learn's on the rules' own labels
    with_rules = project.instrument_agreement(machine=True, boot=0)
    assert with_rules["coders"] == ["a", "b", "rules"]
    units = {(u["document"].removeprefix("corpus/"), u["unit_path"]): u for u in project.instrument_units()}
    chosen = [units[r["document"], r["unit"]] for r in rows["a"]]
    predicted = classify([u["text"] for u in chosen], contexts=[u["lead_in"] for u in chosen])
    pair = next(p for p in with_rules["pairs"] if p["coders"] == ["a", "rules"])
    assert pair["constraint"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(
        [int(r["constraint"]) for r in rows["a"]], [int("constraint" in p.labels) for p in predicted]))
    assert pair["primary"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(
        [r["primary"] for r in rows["a"]], [p.primary for p in predicted]))
    printed = CliRunner().invoke(cli, ["instruments", "agreement", "--coder", "a", "--project", str(root)])
    assert printed.exit_code != 0 and "two coders or more" in printed.output
    printed = CliRunner().invoke(cli, ["instruments", "agreement", "--format", "json", "--boot", "0",
                                       "--project", str(root)])
    assert printed.exit_code == 0 and json.loads(printed.output)["variables"]["primary"]["units"] == 347
    project.close()


def test_a_model_of_another_scheme_version_is_refused(coded_demo, tmp_path):
    from pipeline import instrument_model

    model, path = coded_demo.train_instruments(out=tmp_path / "m.joblib", folds=2)
    edited = tmp_path / "edited.yaml"
    edited.write_text(load_scheme("default").source and open(load_scheme("default").source, encoding="utf-8").read()
                      .replace("threshold: 2", "threshold: 3"), encoding="utf-8")
    with pytest.raises(ConfigError, match="another version of scheme 'default'"):
        instrument_model.load(path, load_scheme(edited))
    with pytest.raises(ConfigError, match="trained for scheme 'default', but the project uses 'rothwell_zegveld'"):
        instrument_model.load(path, load_scheme("rothwell_zegveld"))


# --- coding sheets ------------------------------------------------------------------------------------

NOTICE = """县人民政府关于支持企业参与职业教育的通知
各乡镇人民政府：
一、对接收学生实习的企业，按每人每月500元给予补贴。
二、企业不得挪用实习补贴资金。
三、鼓励企业参与职业教育。
县人民政府
2023年8月30日
"""


@pytest.fixture
def small(project_dir):
    (project_dir / "corpus" / "notice.txt").write_text(NOTICE, encoding="utf-8")
    project = open_project(project_dir)
    project.ingest()
    yield project
    project.close()


def _fill(path, labels: dict[str, dict]):
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["coding"]
    header = [cell.value for cell in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        values = labels.get(row[0].value)
        for key, value in (values or {}).items():
            row[header.index(key)].value = value
    workbook.save(path)


def test_a_coding_sheet_goes_out_and_comes_back(small, tmp_path):
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    workbook = openpyxl.load_workbook(sheet)
    header = [cell.value for cell in workbook["coding"][1]]
    assert header[:6] == ["unit_id", "document", "level", "year", "heading", "text"]
    # the flags default.yaml names, as GUIDE.md asks; the other labels are primary labels only
    assert header[-5:] == ["incentive", "constraint", "primary", "confidence", "memo"]
    units = [row[0].value for row in workbook["coding"].iter_rows(min_row=2)]
    assert len(units) == 3
    _fill(sheet, {units[0]: {"incentive": 1, "primary": "incentive", "confidence": "high"},
                  units[1]: {"constraint": 1, "primary": "constraint", "memo": "资金监管"}})
    result = small.import_instrument_sheet(sheet, "wang")
    assert (len(result.codings), result.blank, result.warnings) == (2, 1, [])
    rows = {row["unit_id"]: row for row in small.instrument_rows()}
    assert rows[units[0]]["instrument_source"] == "human:wang"
    assert rows[units[2]]["instrument_source"] == "rules"
    # a machine run never overrides a human label
    small.classify_instruments(force=True)
    assert {row["unit_id"]: row["instrument_source"] for row in small.instrument_rows()}[units[1]] == "human:wang"


def test_a_bad_sheet_is_refused_whole_with_the_row_named(small, tmp_path):
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    _fill(sheet, {units[0]: {"primary": "incentive", "incentive": 1}, units[1]: {"primary": "carrot"}})
    with pytest.raises(InputError) as caught:
        small.import_instrument_sheet(sheet, "wang")
    assert "row 3: unknown label 'carrot' in primary" in str(caught.value) and "nothing imported" in str(caught.value)
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 0
    _fill(sheet, {units[1]: {"primary": "constraint", "constraint": 0}})
    with pytest.raises(InputError, match="row 3: primary is 'constraint' but its column says 0"):
        small.import_instrument_sheet(sheet, "wang")
    _fill(sheet, {units[1]: {"primary": "none", "constraint": 1}})  # "no instrument" and one instrument
    with pytest.raises(InputError, match="row 3: primary 'none' cannot go with other labels"):
        small.import_instrument_sheet(sheet, "wang")
    _fill(sheet, {units[1]: {"primary": None, "constraint": 1}})  # a flag ticked, the primary forgotten
    with pytest.raises(InputError, match="row 3: primary is empty; give one of incentive, constraint"):
        small.import_instrument_sheet(sheet, "wang")
    with pytest.raises(InputError, match="cannot be read as an XLSX workbook"):
        (tmp_path / "broken.xlsx").write_bytes(b"not a workbook")
        small.import_instrument_sheet(tmp_path / "broken.xlsx", "wang")


def _csv_rows(path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write_csv(path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_flag_cells_take_the_usual_tick_marks(small, tmp_path):
    """x, ✓, √, 是, yes, Excel's TRUE (a boolean cell) and 1.0 (a number read back as text) are present;
    0, 否, no, FALSE and blank absent; anything else is an error naming the row and the value."""
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    _fill(sheet, {units[0]: {"incentive": True, "constraint": False, "primary": "incentive"},  # Excel booleans
                  units[1]: {"constraint": "✓", "incentive": "否", "primary": "constraint"},
                  units[2]: {"incentive": "x", "constraint": "１", "primary": "constraint"}})  # full-width １
    labels = {c["unit_id"]: c["labels"] for c in small.import_instrument_sheet(sheet, "wang").codings}
    assert labels == {units[0]: {"incentive"}, units[1]: {"constraint"}, units[2]: {"incentive", "constraint"}}
    csv_sheet = small.instrument_sheet(tmp_path / "coding.csv")
    rows = _csv_rows(csv_sheet)
    rows[0].update(incentive="1.0", constraint="TRUE", primary="incentive")
    rows[1].update(constraint="√", incentive="0.0", primary="constraint")
    rows[2].update(incentive="是", constraint="no", primary="hortatory")
    _write_csv(csv_sheet, rows)
    labels = {c["unit_id"]: c["labels"] for c in small.import_instrument_sheet(csv_sheet, "li").codings}
    assert labels == {units[0]: {"incentive", "constraint"}, units[1]: {"constraint"},
                      units[2]: {"incentive", "hortatory"}}
    rows[0].update(incentive="yes", constraint="FALSE")
    rows[1].update(constraint="有", incentive="无", confidence="高")  # the drop-down's own words
    _write_csv(csv_sheet, rows)
    codings = {c["unit_id"]: c for c in small.import_instrument_sheet(csv_sheet, "zhao").codings}
    assert codings[units[0]]["labels"] == {"incentive"} and codings[units[1]]["labels"] == {"constraint"}
    assert codings[units[1]]["confidence"] == "high"
    rows[1].update(incentive="maybe")
    _write_csv(csv_sheet, rows)
    with pytest.raises(InputError, match=r"row 3: incentive must be a mark \(1, x, ✓.*\), got 'maybe'"):
        small.import_instrument_sheet(csv_sheet, "li")
    rows[1].update(incentive="", constraint="否")  # the primary's own column says absent
    _write_csv(csv_sheet, rows)
    with pytest.raises(InputError, match="row 3: primary is 'constraint' but its column says 否"):
        small.import_instrument_sheet(csv_sheet, "li")


def test_primary_takes_a_label_id_or_any_of_its_names(small, tmp_path):
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    # 约束型 and 强制型 are both in 约束型（强制型）; English names in any case
    _fill(sheet, {units[0]: {"primary": "激励型"}, units[1]: {"primary": "强制型", "incentive": 1},
                  units[2]: {"primary": "Hortatory / Symbolic"}})
    codings = small.import_instrument_sheet(sheet, "wang").codings
    assert [(c["primary"], c["labels"]) for c in codings] == [
        ("incentive", {"incentive"}), ("constraint", {"constraint", "incentive"}), ("hortatory", {"hortatory"})]
    _fill(sheet, {units[0]: {"primary": "Incentive"}, units[1]: {"primary": "约束型"}, units[2]: {"primary": "MANDATE"}})
    assert [c["primary"] for c in small.import_instrument_sheet(sheet, "li").codings] == [
        "incentive", "constraint", "constraint"]
    _fill(sheet, {units[2]: {"primary": "奖励型"}})
    with pytest.raises(InputError, match="row 4: unknown label '奖励型' in primary .*incentive 激励型"):
        small.import_instrument_sheet(sheet, "zhao")


def test_a_name_two_labels_share_is_refused_in_primary(tmp_path):
    from pipeline.instrument_sheets import read_sheet
    scheme_file = tmp_path / "mine.yaml"
    scheme_file.write_text("""\
scheme: mine
version: 1
labels:
  - id: grant
    name: 资金（补助）
  - id: loan
    name: 资金（贷款）
  - id: none
    name: 非工具
groups:
  - id: money
    label: grant
    cues:
      zh: [补贴]
""", encoding="utf-8")
    scheme = load_scheme(scheme_file)
    sheet = tmp_path / "coding.csv"
    _write_csv(sheet, [{"unit_id": "1-1", "grant": "", "loan": "", "primary": "补助"},
                       {"unit_id": "1-2", "grant": "", "loan": "", "primary": "资金"}])
    units = {"1-1": {"text": "给予补贴。"}, "1-2": {"text": "提供贷款。"}}
    with pytest.raises(InputError, match=r"row 3: primary '资金' is a name of several labels \(grant, loan\)"):
        read_sheet(sheet, scheme, units)
    _write_csv(sheet, [{"unit_id": "1-1", "grant": "", "loan": "", "primary": "补助"},
                       {"unit_id": "1-2", "grant": "", "loan": "", "primary": "贷款"}])
    assert [c["primary"] for c in read_sheet(sheet, scheme, units).codings] == ["grant", "loan"]


def test_the_workbook_drop_downs_refuse_values_off_their_lists(small, tmp_path):
    coding = openpyxl.load_workbook(small.instrument_sheet(tmp_path / "coding.xlsx"))["coding"]
    header = [cell.value for cell in coding[1]]
    letter = openpyxl.utils.get_column_letter
    guarded = {header[openpyxl.utils.cell.range_boundaries(str(v.sqref))[0] - 1]: v
               for v in coding.data_validations.dataValidation}
    assert set(guarded) == {"incentive", "constraint", "primary", "confidence"}  # the flags of the scheme
    for validation in guarded.values():  # Excel refuses a value typed in that is not on the list, and says why
        assert (validation.type, validation.errorStyle, validation.showErrorMessage) == ("list", "stop", True)
        assert "请从下拉列表中选择" in validation.error and "Pick from the list" in validation.error
    assert guarded["incentive"].formula1 == '"0,1"' and "1 = 有 present" in guarded["incentive"].error
    assert guarded["primary"].formula1.startswith('"incentive,激励型,constraint,约束型（强制型）,')
    assert str(guarded["primary"].sqref) == f"{letter(header.index('primary') + 1)}2:{letter(header.index('primary') + 1)}4"


def test_the_workbook_defines_the_labels_on_a_sheet_reading_ignores(small, tmp_path):
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    workbook = openpyxl.load_workbook(sheet)
    assert workbook.sheetnames == ["coding", "labels"]
    labels = list(workbook["labels"].iter_rows(values_only=True))
    assert labels[0][:6] == ("id", "name", "name_en", "definition", "notes", "cues")
    rows = {row[0]: row for row in labels[1:7]}
    assert list(rows) == list(small.scheme().label_ids)
    assert rows["incentive"][1] == "激励型" and rows["incentive"][3].startswith("Offers a target a positive inducement")
    assert "税收优惠" in rows["incentive"][5] and "subsidy" in rows["incentive"][5]
    assert "codebooks/instruments/GUIDE.md" in labels[-1][0] and (REPO / "codebooks/instruments/GUIDE.md").is_file()
    # reading the workbook reads the coding sheet only, whatever a coder wrote on the labels sheet
    workbook["labels"]["A2"] = "carrot"
    workbook.save(sheet)
    _fill(sheet, {workbook["coding"]["A2"].value: {"primary": "incentive"}})
    assert [c["primary"] for c in small.import_instrument_sheet(sheet, "wang").codings] == ["incentive"]


def test_a_long_primary_list_is_read_from_the_labels_sheet(tmp_path):
    """Excel refuses a list written in the formula past 255 characters: a scheme of many labels
    lists them from the labels sheet; a scheme that is not the default one names its file there."""
    from pipeline.instrument_sheets import write_sheet
    labels = "".join(f"  - id: label_number_{i}\n    name: 很长的标签名称第{i}号\n" for i in range(20))
    scheme_file = tmp_path / "many.yaml"
    scheme_file.write_text(f"scheme: many\nversion: 3\nlabels:\n{labels}  - id: none\n    name: 非工具\n"
                           "groups:\n  - id: g\n    label: label_number_0\n    cues:\n      zh: [补贴]\n", encoding="utf-8")
    out = write_sheet([{"unit_id": "1-1", "text": "给予补贴。"}], load_scheme(scheme_file), tmp_path / "s.xlsx")
    workbook = openpyxl.load_workbook(out)
    formulas = {v.formula1 for v in workbook["coding"].data_validations.dataValidation}
    assert "labels!$A$2:$A$22" in formulas
    assert [row[0].value for row in workbook["labels"]["A2:A22"]][-1] == "none"
    assert "many.yaml (scheme many, version 3)" in workbook["labels"].cell(workbook["labels"].max_row, 1).value


def _coded_then_edited(project, sheet_path, labels: dict) -> tuple:
    """A sheet coded for the first unit, whose text is then edited and ingested again."""
    sheet = project.instrument_sheet(sheet_path)
    first = next(openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2))[0].value
    _fill(sheet, {first: labels})
    notice = project.root / "corpus" / "notice.txt"
    notice.write_text(NOTICE.replace("500元", "800元"), encoding="utf-8")
    project.ingest()
    return sheet, first


def test_a_label_made_on_older_text_is_kept_but_not_applied(small, tmp_path):
    sheet, first = _coded_then_edited(small, tmp_path / "coding.xlsx", {"incentive": 1, "primary": "incentive"})
    result = small.import_instrument_sheet(sheet, "li")
    assert len(result.codings) == 1 and "changed since the sheet was made" in result.warnings[0]
    assert {row["unit_id"]: row for row in small.instrument_rows()}[first]["instrument_source"] == "rules"
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 1


def test_a_stale_sheet_imported_later_does_not_hide_a_valid_label(small, tmp_path):
    old_sheet, first = _coded_then_edited(small, tmp_path / "old.xlsx", {"constraint": 1, "primary": "constraint"})
    new_sheet = small.instrument_sheet(tmp_path / "new.xlsx")
    _fill(new_sheet, {first: {"incentive": 1, "primary": "incentive"}})
    small.import_instrument_sheet(new_sheet, "wang")
    assert small.import_instrument_sheet(old_sheet, "wang").warnings  # made on the old text: kept, flagged
    row = {r["unit_id"]: r for r in small.instrument_rows()}[first]
    assert (row["instrument_source"], row["primary_instrument"]) == ("human:wang", "incentive")


def test_labels_gone_stale_are_printed_after_an_import_and_a_run(small, tmp_path):
    root, runner = str(small.root), CliRunner()
    sheet, first = _coded_then_edited(small, tmp_path / "old.xlsx", {"incentive": 1, "primary": "incentive"})
    result = runner.invoke(cli, ["instruments", "import", str(sheet), "--coder", "wang", "--project", root])
    assert result.exit_code == 0 and "changed since the sheet was made" in result.stderr  # this sheet's row
    assert "label-stale" not in result.stderr  # said once, by the row's warning
    new_sheet = small.instrument_sheet(tmp_path / "new.xlsx")
    second = [row[0].value for row in openpyxl.load_workbook(new_sheet)["coding"].iter_rows(min_row=2)][1]
    _fill(new_sheet, {second: {"constraint": 1, "primary": "constraint"}})
    stale = (f"warning: corpus/notice.txt: 1 human instrument label(s) made on an earlier text of the clause no "
             f"longer apply: {first} (wang); label them again (`instruments sheet`; a reconciled label: "
             f"`instruments reconcile`) [label-stale]")
    result = runner.invoke(cli, ["instruments", "import", str(new_sheet), "--coder", "wang", "--project", root])
    assert result.exit_code == 0 and stale in result.stderr.splitlines(), result.stderr
    result = runner.invoke(cli, ["instruments", "import", str(new_sheet), "--coder", "li", "--project", root])
    assert "label-stale" not in result.stderr  # wang's labels are not li's to redo
    result = runner.invoke(cli, ["run", "--only", "ingest", "--project", root])
    assert result.exit_code == 0 and stale in result.stderr.splitlines(), result.stderr


def test_many_documents_with_stale_labels_are_counted_after_the_first_lines(project_dir):
    names = [f"notice{n:02}.txt" for n in range(12)]
    for n, name in enumerate(names):
        (project_dir / "corpus" / name).write_text(NOTICE.replace("500", str(100 + n)), encoding="utf-8")
    project = open_project(project_dir)
    project.ingest()
    for unit in project.instrument_units():
        if unit["text"].startswith("一"):
            project.label_instruments(unit["unit_id"], ["incentive"], "incentive", "wang")
    for n, name in enumerate(names):
        (project_dir / "corpus" / name).write_text(NOTICE.replace("500", str(900 + n)), encoding="utf-8")
    project.close()
    result = CliRunner().invoke(cli, ["run", "--only", "ingest", "--project", str(project_dir)])
    stale = [line for line in result.stderr.splitlines() if line.endswith("[label-stale]")]
    assert len(stale) == 10 and stale[0].startswith("warning: corpus/notice00.txt: 1 human instrument label(s)")
    assert ("warning: and 2 more document(s) with labels or codings to revisit: see problems.csv of a run with the "
            "report stage") in result.stderr


def test_rows_training_agreement_and_stale_labels_read_one_rule_of_the_current_label(small):
    """A coder's label of a clause is their latest on its current text; the latest of the coders' stands
    in the rows; a label is stale only while its coder has none on the current text."""
    first, second, third = [u["unit_id"] for u in small.instrument_units()]
    small.label_instruments(first, [], "incentive", "alice")
    small.label_instruments(first, [], "constraint", "bob")
    small.label_instruments(first, [], "capacity", "alice")  # alice again: hers is now the latest
    small.label_instruments(third, [], "hortatory", "bob")
    small.label_instruments(second, [], "constraint", "alice")
    small.label_instruments(second, [], "incentive", "bob")
    rows = {row["unit_id"]: row for row in small.instrument_rows()}
    assert [(rows[u]["instrument_source"], rows[u]["primary_instrument"]) for u in (first, second, third)] == \
        [("human:alice", "capacity"), ("human:bob", "incentive"), ("human:bob", "hortatory")]
    # training and evaluation read the same labels, in clause order whatever order they were made in
    assert [(u["unit_id"], u["coder"], u["primary"]) for u in small.human_instrument_labels()] == \
        [(first, "alice", "capacity"), (second, "bob", "incentive"), (third, "bob", "hortatory")]
    assert [(u["unit_id"], u["primary"]) for u in small.human_instrument_labels(["alice"])] == \
        [(first, "capacity"), (second, "constraint")]
    result = small.instrument_agreement(boot=0)
    assert (result["coders"], result["units"]) == (["alice", "bob"], 2)  # the clauses both labelled
    assert result["variables"]["primary"]["percent_agreement"] == 0.0  # capacity/constraint, constraint/incentive
    assert small.stale_instrument_labels() == []
    # the second clause's text changes: alice's and bob's labels of it no longer apply, and are said to be stale
    notice = small.root / "corpus" / "notice.txt"
    notice.write_text(NOTICE.replace("不得挪用", "严禁挪用"), encoding="utf-8")
    small.ingest()
    assert small.stale_instrument_labels() == [{"unit_id": second, "coder": "alice", "path": "corpus/notice.txt"},
                                               {"unit_id": second, "coder": "bob", "path": "corpus/notice.txt"}]
    assert {row["unit_id"]: row for row in small.instrument_rows()}[second]["instrument_source"] == "rules"
    assert second not in {u["unit_id"] for u in small.human_instrument_labels()}
    assert small.instrument_agreement(boot=0)["units"] == 1
    small.label_instruments(second, [], "constraint", "bob")  # bob's on the new text: alice's alone stays stale
    assert small.stale_instrument_labels() == [{"unit_id": second, "coder": "alice", "path": "corpus/notice.txt"}]
    assert {row["unit_id"]: row for row in small.instrument_rows()}[second]["instrument_source"] == "human:bob"


def test_the_rows_of_one_document_are_its_rows_among_all(small):
    (small.root / "corpus" / "other.txt").write_text(NOTICE.replace("县人民政府", "市人民政府"), encoding="utf-8")
    small.ingest()
    every = small.instrument_rows()
    doc_ids = sorted({row["doc_id"] for row in every})
    assert len(doc_ids) == 2
    small.label_instruments(every[-1]["unit_id"], [], "capacity", "alice")
    every = small.instrument_rows()
    for doc_id in doc_ids:
        assert small.instrument_rows(doc_ids=[doc_id]) == [row for row in every if row["doc_id"] == doc_id]
    assert small.instrument_rows(doc_ids=[]) == []


def test_a_trained_model_labels_new_units_and_suggests_the_least_certain(demo_model, small):
    model, path = demo_model
    _configure_model(small.root, path)
    configured = open_project(small.root)
    try:
        rows = configured.instrument_rows()
        assert {row["instrument_source"] for row in rows} == {f"model:{model.id}"}
        assert rows[0]["primary_instrument"] == "incentive"  # 按每人每月500元给予补贴
        suggestions = configured.suggest_instruments(2)
        margins = [row["uncertainty_margin"] for row in suggestions]
        assert len(suggestions) == 2 and margins == sorted(margins) and all(0 <= m <= 0.5 for m in margins)
    finally:
        configured.close()


def test_evaluation_scores_the_flags_of_any_scheme():
    from pipeline.instrument_model import evaluate

    assert load_scheme("default").flags == ("incentive", "constraint")  # named in default.yaml
    flags = load_scheme("rothwell_zegveld").flags  # a scheme without the key: every label but none
    assert flags == ("supply", "environment", "demand")
    gold = [{"labels": {"supply"}, "primary": "supply"}, {"labels": {"demand", "environment"}, "primary": "demand"}]
    guess = [{"labels": {"supply"}, "primary": "supply"}, {"labels": {"demand"}, "primary": "demand"}]
    report = evaluate(gold, guess, flags)
    assert report["flags"]["environment"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["flags"]["supply"]["f1"] == 1.0 and report["macro_f1_flags"] == pytest.approx(2 / 3, abs=1e-3)


def test_human_codings_cannot_be_changed_or_deleted(small, tmp_path):
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    first = next(openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2))[0].value
    _fill(sheet, {first: {"incentive": 1, "primary": "incentive"}})
    small.import_instrument_sheet(sheet, "wang")
    doc_id = small.rows("documents")[0]["id"]
    store.add_codings(small.db, [{"doc_id": doc_id, "start": 0, "end": 4, "code": "incentive", "coder": "wang"}],
                      "2026-11-23")
    for statement in ("DELETE FROM instrument_codings", "UPDATE instrument_codings SET coder = 'x'",
                      "DELETE FROM codings", "UPDATE codings SET memo = 'x'"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            small.db.execute(statement)


# --- the paper's tables -------------------------------------------------------------------------------

def _units(cells: dict[tuple[str, str], int]) -> list[dict]:
    rows, number = [], 0
    for (level, instrument), n in cells.items():
        for _ in range(n):
            number += 1
            rows.append({"doc_id": number % 3, "level": level, "year": "2023", "primary_instrument": instrument,
                         "instruments": [instrument], "subtools": {}})
    return rows


def test_crosstab_chi_square_and_cramers_v_match_a_hand_computation():
    cells = {("national", "incentive"): 10, ("national", "constraint"): 30, ("county", "incentive"): 25,
             ("county", "constraint"): 15, ("county", "none"): 5, ("national", "none"): 5}
    table, test = crosstab(_units(cells), "level", load_scheme("default"))
    assert test["rows"] == ["national", "county"] and test["columns"] == list(load_scheme("default").label_ids)
    assert test["matrix"] == [[10, 30, 0, 0, 0, 5], [25, 15, 0, 0, 0, 5]]
    assert test["left_out"] == ["capacity", "hortatory", "system_change"]  # no unit has them as primary
    observed = np.array([[10, 30, 5], [25, 15, 5]], dtype=float)
    expected = observed.sum(1, keepdims=True) * observed.sum(0, keepdims=True) / observed.sum()
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert test["chi2"] == pytest.approx(chi2, abs=1e-4) and test["dof"] == 2
    assert test["cramers_v"] == pytest.approx(math.sqrt(chi2 / (observed.sum() * 1)), abs=1e-4)
    national = {row["primary_instrument"]: row for row in table if row["level"] == "national"}
    assert national["constraint"]["row_pct"] == pytest.approx(100 * 30 / 45, abs=0.01)
    assert national["constraint"]["col_pct"] == pytest.approx(100 * 30 / 45, abs=0.01)
    # clauses of documents with no level are shown in the table but are no category of the test;
    # a system_change clause among them does not make that label a tested column
    unknown = _units({("", "incentive"): 7, ("", "system_change"): 2})
    table, with_unknown = crosstab(_units(cells) + unknown, "level", load_scheme("default"))
    assert with_unknown["rows"] == ["national", "county", "(unknown)"]
    assert {k: with_unknown[k] for k in ("chi2", "dof", "cramers_v")} == {k: test[k] for k in ("chi2", "dof", "cramers_v")}
    assert with_unknown["n"] == 90 and "9 clauses whose document has no level are left out of χ²" in with_unknown["note"]
    assert with_unknown["left_out"] == ["capacity", "hortatory", "system_change"]


def test_a_two_by_two_crosstab_reports_pearson_chi_square_without_yates_and_the_v_of_it():
    from scipy.stats import chi2_contingency

    cells = {("national", "incentive"): 8, ("national", "constraint"): 2, ("county", "incentive"): 3,
             ("county", "constraint"): 7}
    _, test = crosstab(_units(cells), "level", load_scheme("default"))
    assert [row[:2] for row in test["matrix"]] == [[8, 2], [3, 7]] and test["dof"] == 1
    pearson = chi2_contingency([[8, 2], [3, 7]], correction=False)
    assert test["chi2"] == pytest.approx(pearson.statistic, abs=1e-4) == pytest.approx(5.0505, abs=1e-4)
    assert test["p"] == pytest.approx(pearson.pvalue)
    assert test["cramers_v"] == pytest.approx(math.sqrt(pearson.statistic / (20 * 1)), abs=1e-4)
    assert "no continuity correction" in test["test"]


def test_instruments_report_writes_tables_and_charts(coded_demo, tmp_path):
    summary = coded_demo.instruments_report(tmp_path / "report")
    files = set(summary["files"])
    tables = json.loads((tmp_path / "report" / "instruments.json").read_text(encoding="utf-8"))
    assert tables["tests"]["level"]["matrix"] and tables["frequency"][0]["instrument"] == "incentive"
    assert {"instruments_frequency.csv", "instruments_by_level.csv", "instruments_by_year.csv", "instruments.xlsx",
            "instruments_documents.csv", "instruments_by_level.png", "instruments_by_level.svg",
            "instruments_level_heatmap.png"} <= files
    with (tmp_path / "report" / "instruments_documents.csv").open(encoding="utf-8-sig") as handle:
        documents = list(csv.DictReader(handle))
    assert list(documents[0]) == ["编号", "名称", "文号", "发文机关", "年份", "层级"] and len(documents) == 16
    assert summary["tests"]["level"]["n"] == 347 and summary["tests"]["level"]["cramers_v"] is not None


def test_cli_instruments_commands(small, tmp_path):
    root = str(small.root)
    runner = CliRunner()
    result = runner.invoke(cli, ["instruments", "classify", "--format", "json", "--project", root])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["primary_instrument"] for row in rows] == ["incentive", "constraint", "hortatory"]
    sheet = tmp_path / "s.xlsx"
    assert runner.invoke(cli, ["instruments", "sheet", "-o", str(sheet), "--project", root]).exit_code == 0
    result = runner.invoke(cli, ["instruments", "import", str(sheet), "--coder", "rules", "--project", root])
    assert result.exit_code == 2 and "is not a human coder's name" in result.output
    result = runner.invoke(cli, ["instruments", "evaluate", "--project", root])
    assert result.exit_code == 1 and "no human instrument labels" in result.output


def test_suggest_says_what_its_margin_measures(demo_model, small):
    runner, root = CliRunner(), str(small.root)
    result = runner.invoke(cli, ["instruments", "suggest", "--n", "2", "--project", root])
    assert result.exit_code == 0 and "uncertainty_margin" in result.stdout
    assert ("uncertainty_margin: the distance of a label's cue score from the scheme's threshold (2) at which the rules "
            "give it") in result.stderr
    help_text = " ".join(runner.invoke(cli, ["instruments", "suggest", "--help"]).output.split())
    assert "presence probability from 0.5" in help_text and "from the scheme's threshold" in help_text
    _configure_model(small.root, demo_model[1])
    result = runner.invoke(cli, ["instruments", "suggest", "--n", "2", "--project", root])
    assert result.exit_code == 0 and "presence probability from 0.5 (0 = a coin toss" in result.stderr


def test_suggest_classifies_first_when_the_model_has_not_labelled_the_units_yet(demo_model, small):
    assert not store.prediction_keys(small.db, "default", "rules")  # just ingested: nothing classified yet
    assert len(small.suggest_instruments(2)) == 2
    # right after `instruments train` and the config line, nothing the model says is stored yet
    model, path = demo_model
    _configure_model(small.root, path)
    configured = open_project(small.root)
    try:
        assert not store.prediction_keys(configured.db, "default", f"model:{model.id}")
        suggestions = configured.suggest_instruments(3)
        assert len(suggestions) == 3 and all(0 <= row["uncertainty_margin"] <= 0.5 for row in suggestions)
        result = CliRunner().invoke(cli, ["instruments", "suggest", "--n", "2", "--project", str(small.root)])
        assert result.exit_code == 0, result.output
    finally:
        configured.close()


def test_a_sheet_of_no_units_or_of_unknown_units_is_refused_in_one_line(small, tmp_path):
    runner, root = CliRunner(), str(small.root)
    ids = tmp_path / "ids.txt"
    first = small.instrument_rows()[0]["unit_id"]
    ids.write_text(f"{first}\n9-9\n", encoding="utf-8")  # one clause and one id no clause has: all or nothing
    result = runner.invoke(cli, ["instruments", "sheet", "-o", str(tmp_path / "s.xlsx"), "--units", str(ids),
                                 "--project", root])
    assert result.exit_code == 1 and "not policy clauses: 9-9" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "s.xlsx").exists()
    ids.write_text("9-9\n8-8\n", encoding="utf-8")
    with pytest.raises(ProjectError, match="not policy clauses: 9-9, 8-8") as caught:
        small.instrument_sheet(tmp_path / "s.xlsx", units=["9-9", "8-8"])
    assert caught.value.code == "unknown-unit"
    ids.write_text("\n", encoding="utf-8")
    result = runner.invoke(cli, ["instruments", "sheet", "-o", str(tmp_path / "s.xlsx"), "--units", str(ids),
                                 "--project", root])
    assert result.exit_code == 1 and "lists no unit" in result.output and not (tmp_path / "s.xlsx").exists()
    # every clause coded: nothing to suggest, and no empty sheet
    sheet = small.instrument_sheet(tmp_path / "all.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    _fill(sheet, {unit: {"primary": "hortatory"} for unit in units})
    small.import_instrument_sheet(sheet, "wang")
    result = runner.invoke(cli, ["instruments", "suggest", "-o", str(tmp_path / "next.xlsx"), "--project", root])
    assert result.exit_code == 1 and "every clause has a human label: nothing to suggest" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "next.xlsx").exists()


def test_a_project_without_policy_clauses_gets_no_empty_sheet(project_dir, tmp_path):
    project = open_project(project_dir)
    try:
        with pytest.raises(ProjectError, match="no policy clauses") as caught:
            project.instrument_sheet(tmp_path / "s.xlsx")
        assert caught.value.code == "no-clauses" and not (tmp_path / "s.xlsx").exists()
    finally:
        project.close()


def test_evaluating_a_trained_model_says_it_is_in_sample_and_shows_its_cross_validation(demo_model, small, tmp_path):
    # the small project's three clauses coded by one human; the model, trained on the demo, is configured
    model, path = demo_model
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    _fill(sheet, {unit: {"primary": "hortatory"} for unit in units})
    small.import_instrument_sheet(sheet, "wang")
    rules = small.evaluate_instruments()
    assert rules["classifier"] == "rules" and rules["in_sample"] is False and "cross_validated" not in rules
    _configure_model(small.root, path)
    runner, root = CliRunner(), str(small.root)
    result = runner.invoke(cli, ["instruments", "evaluate", "--format", "json", "--project", root])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["classifier"] == f"model:{model.id}" and report["in_sample"] is True
    assert report["cross_validated"] == json.loads(json.dumps(model.evaluation))
    result = runner.invoke(cli, ["instruments", "evaluate", "--project", root])
    assert result.exit_code == 0, result.output
    assert "in-sample" in result.output and model.evaluation["protocol"] in result.output
    assert f"cross-validated macro-F1 over the flags {model.evaluation['macro_f1_flags']}" in result.output


def test_a_csv_coding_sheet_is_real_csv_and_comes_back(small, tmp_path):
    runner, root = CliRunner(), str(small.root)
    sheet = tmp_path / "s.csv"
    result = runner.invoke(cli, ["instruments", "sheet", "-o", str(sheet), "--project", root])
    assert result.exit_code == 0, result.output
    with sheet.open(encoding="utf-8-sig", newline="") as handle:  # UTF-8 with a BOM: Excel and WPS keep the Chinese
        rows = list(csv.DictReader(handle))
    assert [row["text"] for row in rows] == [row["text"] for row in small.instrument_rows()]
    assert list(rows[0])[-3:] == ["primary", "confidence", "memo"] and rows[0]["suggested_primary"] == "incentive"
    rows[0].update(incentive="1", primary="incentive")  # as a coder fills it in LibreOffice
    rows[1].update(constraint="1", primary="constraint", memo="资金监管")
    with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = runner.invoke(cli, ["instruments", "import", str(sheet), "--coder", "wang", "--project", root])
    assert result.exit_code == 0, result.output
    imported = {row["unit_id"]: row for row in small.instrument_rows()}
    assert imported[rows[1]["unit_id"]]["instrument_source"] == "human:wang"
    assert imported[rows[1]["unit_id"]]["primary_instrument"] == "constraint"
    # a name neither .xlsx nor .csv is refused, not written as a workbook under another name
    result = runner.invoke(cli, ["instruments", "sheet", "-o", str(tmp_path / "s.txt"), "--project", root])
    assert result.exit_code == 1 and ".xlsx" in result.output and not (tmp_path / "s.txt").exists()


def test_one_coder_name_rule_and_a_sheet_imported_twice_adds_nothing_new(small, tmp_path):
    runner, root = CliRunner(), str(small.root)
    sheet = small.instrument_sheet(tmp_path / "coding.xlsx")
    units = [row[0].value for row in openpyxl.load_workbook(sheet)["coding"].iter_rows(min_row=2)]
    _fill(sheet, {units[0]: {"incentive": 1, "primary": "incentive"}, units[1]: {"constraint": 1, "primary": "constraint"}})
    for name, message in ((" alice ", "spaces around it"), ("auto", "machine coder"), ("rules", "not a human coder")):
        result = runner.invoke(cli, ["instruments", "import", str(sheet), "--coder", name, "--project", root])
        assert result.exit_code == 2 and message in result.output, (name, result.output)  # a name that cannot be
        with pytest.raises(ProjectError, match=message):
            small.label_instruments(units[0], [], "incentive", name)
    with pytest.raises(ProjectError, match="spaces around it"):  # the same rule for text coding
        small.uncode(1, by=" alice ")
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 0

    def imported() -> str:
        result = runner.invoke(cli, ["instruments", "import", str(sheet), "--coder", "alice", "--project", root])
        assert result.exit_code == 0, result.output
        return result.output

    assert "2 labels imported, 0 already there" in imported()
    assert "0 labels imported, 2 already there" in imported()  # the same sheet again
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 2
    _fill(sheet, {units[1]: {"constraint": 1, "primary": "constraint", "memo": "资金监管"}})  # one label changed
    assert "1 labels imported, 1 already there" in imported()
    small.label_instruments(units[1], ["constraint"], "constraint", "alice", memo="资金监管")  # as it stands
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 3
    _fill(sheet, {units[1]: {"memo": None}})  # back to the first label: it is not the current one, so it is added
    assert "1 labels imported, 1 already there" in imported()
    assert small.db.execute("SELECT count(*) FROM instrument_codings").fetchone()[0] == 4
    row = {r["unit_id"]: r for r in small.instrument_rows()}[units[1]]
    assert (row["instrument_source"], row["primary_instrument"]) == ("human:alice", "constraint")


def test_instrument_tables_name_the_primary_instrument_and_keep_every_label():
    from scipy.stats import chi2_contingency

    from pipeline.instrument_report import document_shares, frequency_table

    scheme = load_scheme("default")
    rows = _units({("national", "incentive"): 8, ("national", "none"): 2, ("county", "constraint"): 5,
                   ("county", "incentive"): 3})
    table, test = crosstab(rows, "level", scheme)
    assert {row["primary_instrument"] for row in table} == set(scheme.label_ids)  # capacity too, with n 0
    assert {row["n"] for row in table if row["primary_instrument"] == "capacity"} == {0}
    assert test["columns"] == list(scheme.label_ids) and test["left_out"] == ["capacity", "hortatory", "system_change"]
    used = [[8, 0, 2], [3, 5, 0]]  # incentive, constraint, none: the labels some unit has as primary
    assert test["chi2"] == pytest.approx(chi2_contingency(used, correction=False).statistic, abs=1e-4)
    assert test["cells"] == 6 and "capacity" in test["note"]
    assert {row["primary_instrument"] for row in document_shares(rows, scheme)} == set(scheme.label_ids)
    frequency = frequency_table(rows, scheme)
    labelled = [row for row in frequency if row["subtool"] == "" and row["instrument"] != "total"]
    assert [row["instrument"] for row in labelled] == list(scheme.label_ids)  # none listed: it counts in primary_n
    total = frequency[-1]
    assert total["instrument"] == "total" and total["primary_n"] == sum(row["primary_n"] for row in labelled) == 18
    assert total["n"] == sum(row["n"] for row in labelled if row["n"] != "") == 16
    assert next(row for row in labelled if row["instrument"] == "none")["primary_n"] == 2


def test_the_instruments_report_workbook_and_cli_carry_the_tests_and_their_warnings(coded_demo, tmp_path):
    result = CliRunner().invoke(cli, ["instruments", "report", "-o", str(tmp_path / "r"), "--project",
                                      str(coded_demo.root)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r" / "instruments_summary.json").read_text(encoding="utf-8"))
    level = summary["tests"]["level"]
    assert level["cells_expected_below_5"] > 0  # the demo's levels: 8 of 24 cells
    assert (f"warning: instrument × level: {level['cells_expected_below_5']} of {level['cells']} cells have an "
            f"expected count below 5, so read p with care") in result.output
    workbook = openpyxl.load_workbook(tmp_path / "r" / "instruments.xlsx", read_only=True)
    tests = {row[0]: row for row in workbook["tests"].iter_rows(min_row=2, values_only=True)}
    header = [cell.value for cell in next(workbook["tests"].iter_rows(max_row=1))]
    assert tests["level"][header.index("chi2")] == level["chi2"]
    assert tests["level"][header.index("cramers_v")] == level["cramers_v"]
    with (tmp_path / "r" / "instruments_by_level.csv").open(encoding="utf-8-sig") as handle:
        assert list(csv.DictReader(handle).fieldnames)[:3] == ["level", "primary_instrument", "n"]


def test_the_instruments_report_counts_every_file_it_writes(small, tmp_path):
    folder = tmp_path / "r"
    for _ in range(2):  # the second time into the same folder: the charts' digests are there, and no result
        result = CliRunner().invoke(cli, ["instruments", "report", "-o", str(folder), "--project", str(small.root)])
        assert result.exit_code == 0, result.output
        summary = json.loads((folder / "instruments_summary.json").read_text(encoding="utf-8"))
        written = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        assert summary["files"] == written and "instruments_summary.json" in written
        assert f"wrote {len(written)} files" in result.output


def test_the_model_trained_on_the_development_sets_reaches_the_goal_on_the_held_out_sets(tmp_path):
    # sets 21-24 were written and labelled after the recipe was chosen and scored once with it
    # (0.923 / 0.899 pooled, bench/eval_instruments.py); the goal is 0.88 / 0.78
    from pipeline.shipped_gold import gold_project

    training = gold_project(tmp_path / "train", ("demo", "heldout", *(f"heldout{n}" for n in range(2, 21))))
    model, path = training.train_instruments(out=tmp_path / "development.joblib", folds=2)
    training.close()
    assert model.n_units == 7639
    held_out = gold_project(tmp_path / "held-out", tuple(f"heldout{n}" for n in range(21, 25)))
    _configure_model(held_out.root, path)
    held_out.close()
    report = open_project(held_out.root).evaluate_instruments(coders=["gold"])
    assert report["n"] == 1278 and report["classifier"].startswith("model:"), report
    assert report["macro_f1_flags"] >= 0.91 and report["primary_accuracy"] >= 0.88, report


def test_a_project_without_labels_trains_on_the_shipped_gold_sets(tmp_path):
    gold = REPO / "corpora" / "gold"
    rows = [(name, row["document"]) for name in ("demo", *(p.name for p in sorted(REPO.glob("corpora/heldout*"))))
            for row in csv.DictReader((gold / f"{name}_instruments.csv").open(encoding="utf-8"))]
    root = init_project(tmp_path / "empty", "no labels of its own")
    model_file = tmp_path / "shipped.joblib"
    result = CliRunner().invoke(cli, ["instruments", "train", "--shipped-gold", "-o", str(model_file),
                                      "--project", str(root)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    saved = json.loads(model_file.with_suffix(".json").read_text(encoding="utf-8"))
    # every shipped label, its documents kept apart in the folds (corpora/gold/README.md for the sets)
    assert (saved["n_units"], saved["n_documents"]) == (len(rows), len(set(rows)))
    cross_validated = saved["evaluation"]
    # 0.885 / 0.859 on all 8,917 labels (sets 17-20, of kinds the other sets lack, pull it down from 0.90)
    assert cross_validated["macro_f1_flags"] >= 0.87 and cross_validated["primary_accuracy"] >= 0.84, cross_validated
    # the labels are those of scheme default: another scheme cannot use them
    config = root / "policoder.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('scheme = "default"', 'scheme = "rothwell_zegveld"'),
                      encoding="utf-8")
    with pytest.raises(ProjectError, match="labelled under scheme 'default', not 'rothwell_zegveld'"):
        open_project(root).train_instruments(shipped_gold=True)
