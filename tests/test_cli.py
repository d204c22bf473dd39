"""The CLI through click's runner: one-line errors and the documented exit codes."""
import json

from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.db import export_columns
from tests.conftest import make_pdf


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_every_command_has_help_and_is_in_the_readme():
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"policoder {name}" in readme, f"`policoder {name}` is not documented in README.md"
        assert invoke(name, "--help").exit_code == 0


def test_cli_init_ingest_export_show(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    make_pdf(root / "corpus" / "n.pdf", [["浙江省教育厅关于推进产教融合的通知", "一、给予奖励。", "二、不得挪用。"]],
             header="浙江省教育厅文件")
    result = invoke("ingest", "--project", root)
    assert result.exit_code == 0, result.output
    exported = invoke("export", "clauses", "--format", "json", "--project", root)
    clauses = json.loads(exported.output)
    assert {"doc_id", "unit_id", "text", "heading", "page", "start", "end"} <= set(clauses[0])
    assert [c["unit_id"] for c in clauses] == ["1-1", "1-2"] and clauses[0]["page"] == 1
    documents = json.loads(invoke("export", "documents", "--format", "json", "--text", "--project", root).output)
    assert {"id", "path", "kind", "title", "doc_number", "issuer", "date", "level", "province", "city", "county",
            "pages", "status", "text"} <= set(documents[0])
    shown = invoke("show", "1", "--project", root)
    assert "1-2" in shown.output and "不得挪用" in shown.output
    assert invoke("export", "documents", "--format", "xlsx", "-o", tmp_path / "d.xlsx", "--project", root).exit_code == 0
    assert (tmp_path / "d.xlsx").stat().st_size > 0


def test_cli_exit_codes(tmp_path, bad_inputs):
    root = tmp_path / "p"
    invoke("init", root)
    skipped = CliRunner().invoke(cli, ["ingest", str(bad_inputs / "encrypted.pdf"), "--project", str(root)])
    assert skipped.exit_code == 1
    assert "encrypted.pdf: PDF is encrypted; remove the password and re-run [pdf-encrypted]" in skipped.output
    (root / "policoder.toml").write_text("[ingest]\nworkerz = 2\n", encoding="utf-8")
    config_error = CliRunner().invoke(cli, ["ingest", "--project", str(root)])
    assert config_error.exit_code == 2
    assert "ingest.workerz" in config_error.output and "Traceback" not in config_error.output
    not_a_project = CliRunner().invoke(cli, ["docs", "--project", str(tmp_path / "nowhere")])
    assert not_a_project.exit_code == 2 and "policoder init" in not_a_project.output


def test_cli_db_option_puts_the_store_where_asked(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    (root / "corpus" / "a.txt").write_text("关于推进产教融合的通知\n一、给予奖励。\n", encoding="utf-8")
    assert invoke("ingest", "--project", root, "--db", tmp_path / "elsewhere.db").exit_code == 0
    assert (tmp_path / "elsewhere.db").exists() and not (root / "policoder.db").exists()


def test_cli_usage_errors_exit_2(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    assert CliRunner().invoke(cli, ["export", "nope", "--project", str(root)]).exit_code == 2
    missing_dir = CliRunner().invoke(cli, ["docs", "--project", str(root), "--db", str(tmp_path / "no" / "x.db")])
    assert missing_dir.exit_code == 2 and "does not exist" in missing_dir.output
    under_outputs = CliRunner().invoke(cli, ["docs", "--project", str(root), "--db", str(root / "outputs" / "x.db")])
    assert under_outputs.exit_code == 2 and "outputs" in under_outputs.output


def test_cli_empty_table_still_has_its_header(tmp_path):
    root = tmp_path / "p"
    invoke("init", root)
    assert invoke("export", "codings", "--format", "csv", "-o", tmp_path / "c.csv", "--project", root).exit_code == 0
    header = (tmp_path / "c.csv").read_text(encoding="utf-8-sig").splitlines()
    assert header == [",".join(export_columns("codings"))]
    assert header[0].startswith("id,doc_id,document,unit_id,start,end,code,code_path,coder")


def test_cli_tables_print_brackets_as_text_and_mark_cut_text(tmp_path):
    root = tmp_path / "p"
    assert invoke("init", root).exit_code == 0
    (root / "corpus" / "n.txt").write_text("关于印发[试行]校企合作办法的通知\n一、对接收学生实习的企业，按每人每月"
                                           "500元给予补贴，补贴资金由县财政在年度预算中安排并按季度拨付到企业。\n",
                                           encoding="utf-8")
    assert invoke("ingest", "--project", root).exit_code == 0
    assert "[试行]" in invoke("docs", "--project", root).output  # rich would read [试行] as markup
    listed = invoke("instruments", "classify", "--project", root).output
    assert "…" in listed
