"""Commands that behave alike (issue 18): every option of every command has a one-line
description and shows its default, every command shows an example, the console scripts'
--help names the script that was run, the output folder is ``--out`` everywhere (the old
positional form of ``synth`` still works, with a note), renamed options keep their old
spelling, and ``info`` refuses options it would ignore."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from edge_emotion.cli_help import HelpFormatter

SCRIPTS = {
    "edge-emotion-run": "edge_emotion.run",
    "edge-emotion-train": "edge_emotion.training",
    "edge-emotion-export": "edge_emotion.export",
    "edge-emotion-playback": "edge_emotion.playback",
    "edge-emotion-bridge-emulator": "edge_emotion.firmware_bridge.emulator",
    "edge-emotion-plot": "edge_emotion.plot",
}


def _parsers():
    from edge_emotion import playback, plot, run_args
    from edge_emotion.export.__main__ import build_parser as export_parser
    from edge_emotion.firmware_bridge import emulator
    from edge_emotion.training.cli import build_parser as training_parser

    return {
        "training": training_parser(),
        "export": export_parser(),
        "playback": playback.build_parser(),
        "emulator": emulator.build_parser(),
        "plot": plot.build_parser(),
        "run": run_args.build_parser(),
    }


def _walk(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand's parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _walk(sub)


def _commands():
    return [(name, sub) for name, parser in _parsers().items() for sub in _walk(parser)]


def test_every_option_of_every_command_has_help_and_shows_its_default():
    missing, no_default = [], []
    commands = _commands()
    assert len(commands) >= 14  # training's 10 (+ the top level), export, playback, ...
    for _, parser in commands:
        assert issubclass(parser.formatter_class, HelpFormatter), parser.prog
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            label = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            if not (action.help or "").strip():
                missing.append(label)
                continue
            default = action.default
            if action.option_strings and not any(default is d for d in (None, False)):
                shown = " ".join(map(str, default)) if isinstance(default, list) else default
                described = " ".join(action.help.split())
                if f"(default: {shown})" not in text and "default" not in described.lower():
                    no_default.append(f"{label} ({default!r})")
    assert not missing, "options without help:\n" + "\n".join(missing)
    assert not no_default, "defaults not shown:\n" + "\n".join(no_default)


def test_every_command_shows_an_example():
    for _, parser in _commands():
        assert "example" in (parser.epilog or ""), parser.prog


def test_training_help_shows_the_defaults_the_issue_named():
    from edge_emotion.training.cli import build_parser

    cv = next(p for p in _walk(build_parser()) if p.prog.endswith(" cv"))
    text = " ".join(cv.format_help().split())
    for option, default in [
        ("--epochs", "30"),
        ("--lr", "0.002"),
        ("--batch-size", "128"),
        ("--folds", "10"),
        ("--format", "png"),
        ("--dpi", "200"),
    ]:
        assert option in text and f"(default: {default})" in text, option
    run = next(p for p in _walk(build_parser()) if p.prog.endswith(" eav run"))
    text = " ".join(run.format_help().split())
    assert "--subjects" in text and "participant numbers (default: all)" in text
    assert "(default: 32)" in text  # eav run's own batch size


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_console_script_names_itself_in_its_help(script):
    exe = Path(sys.executable).with_name(script)
    assert exe.is_file(), f"{exe} missing: re-run the editable install after pyproject changes"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: {script} "), out.stdout[:200]
    assert f"python -m {SCRIPTS[script]}" not in out.stdout.splitlines()[0]


def test_the_module_form_names_the_module():
    out = subprocess.run(
        [sys.executable, "-m", "edge_emotion.plot", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.startswith("usage: python -m edge_emotion.plot ")


def test_synth_takes_out_and_still_reads_the_positional_folder(tmp_path, capsys):
    from edge_emotion.training.cli import main

    tiny = ["--subjects", "1", "--trials", "1", "--min-s", "12", "--max-s", "13"]
    assert main(["synth", "--out", str(tmp_path / "a"), *tiny, "--workers", "1"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "b"), *tiny, "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "positional OUT is deprecated; use --out" in err
    assert (tmp_path / "b" / "Data_Preprocessed_P01.mat").is_file()
    assert main(["synth", *tiny]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "c"), "--out", str(tmp_path / "d"), *tiny]) == 2


def test_prepare_trial_set_keeps_the_old_trials_spelling(capsys):
    from edge_emotion.training.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["prepare", "--data", "x", "--trial-set", "long"])
    assert args.trials == "long" and "deprecated" not in capsys.readouterr().err
    args = parser.parse_args(["prepare", "--data", "x", "--trials", "all"])
    assert args.trials == "all"
    assert "--trials is deprecated; use --trial-set" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["prepare", "--data", "x", "--trial-set", "16"])


def test_info_refuses_training_options_it_would_ignore(capsys):
    from edge_emotion.training.cli import main

    for option in (["--epochs", "3"], ["--data", "x"], ["--lr", "0.1"]):
        with pytest.raises(SystemExit) as exc:
            main(["info", *option])
        assert exc.value.code == 2
        assert f"unrecognized arguments: {' '.join(option)}" in capsys.readouterr().err
