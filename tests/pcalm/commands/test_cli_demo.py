"""`pcalm demo` runs end to end and writes its JSON; PC-ALM is closer to BP than PC there."""

import json

from pcalm.commands.cli import main


def test_demo_writes_cosines(tmp_path, capsys):
    assert main(["demo", "--width", "16", "--depth", "8", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "demo.json").read_text())
    assert set(report) >= {"pc", "pc-alm"}
    assert -1.0 <= report["pc"]["cosine_to_bp"] <= 1.0
    assert report["pc-alm"]["cosine_to_bp"] > report["pc"]["cosine_to_bp"]
    assert "cosine to BP" in capsys.readouterr().out


def test_bad_arguments_exit_2_with_the_message(tmp_path, capsys):
    assert main(["demo", "--depth", "1", "--out", str(tmp_path)]) == 2
    assert "pcalm demo: depth: must be an integer >= 2" in capsys.readouterr().err
