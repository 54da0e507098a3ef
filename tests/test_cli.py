"""The ``nplstm`` command."""

import json
import subprocess
import sys

import pytest

from nplstm.benchmark import format_table, time_cases
from nplstm.cli.bench import parse_cases
from nplstm.cli import main


def test_gradcheck_command_passes_and_prints_tables(capsys):
    assert main(["gradcheck", "--cases", "2"]) == 0
    out = capsys.readouterr().out
    for part in ("cell", "lstm", "rnn", "gru", "linear", "embedding", "loss"):
        assert f"== {part}" in out
    assert "== gru  dtype=float64 part=cell" in out and "== gru  dtype=float64 part=layer" in out
    assert "16 passed, 0 failed" in out          # 2 cases per part, the GRU's cell and layer and "worst err/tol by group" in out


@pytest.mark.parametrize("argv", [
    ["--what", "lstm", "--layers", "2", "--bidirectional", "--proj-size", "1",
     "--lengths", "3,1", "--mode", "directional"],
    ["--what", "lstm", "--no-bidirectional", "--mode", "sampled", "--dtype", "float32"],
    ["--what", "all", "--mode", "adjoint"],
    ["--what", "linear", "--dtype", "float32"],
    ["--what", "gru", "--layers", "2", "--bidirectional", "--lengths", "3,1,2",
     "--mode", "directional"],
    ["--what", "gru", "--mode", "adjoint", "--bidirectional", "--lengths", "2,1"],
    ["--what", "gru", "--mode", "sampled", "--dtype", "float32", "--no-bidirectional"],
])
def test_gradcheck_command_options(argv, capsys):
    assert main(["gradcheck", "--cases", "1", "--quiet"] + argv) == 0
    assert "0 failed" in capsys.readouterr().out


def test_gradcheck_command_json(capsys):
    assert main(["gradcheck", "--what", "loss", "--cases", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and len(doc["checks"]) == 2
    assert doc["checks"][0]["report"]["inputs"][0]["name"] == "logits"


def test_gradcheck_command_refuses_adjoint_without_a_jvp():
    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--what", "linear", "--mode", "adjoint"])
    assert info.value.code == 2


def test_gradcheck_command_exits_1_on_failure(monkeypatch, capsys):
    from nplstm import functional

    real = functional.cell.lstm_cell_backward

    def broken(dh, dc, cache):
        g = real(dh, dc, cache)
        return g._replace(c_prev=g.c_prev * 1.01)

    monkeypatch.setattr(functional, "lstm_cell_backward", broken)    # as library_pairs calls it
    assert main(["gradcheck", "--what", "cell", "--cases", "1", "--quiet"]) == 1
    assert "FAILED" in capsys.readouterr().out


@pytest.mark.parametrize("function, field", [("gru_cell_backward", "h_prev"),
                                             ("gru_backward", "weight_hh")])
def test_gradcheck_gru_exits_1_naming_the_input_of_a_broken_gru_backward(monkeypatch, capsys,
                                                                        function, field):
    from nplstm import functional

    real = getattr(functional, function)

    def broken(*args, **kwargs):
        g = real(*args, **kwargs)
        return g._replace(**{field: getattr(g, field) * 1.01})

    monkeypatch.setattr(functional, function, broken)     # as library_pairs calls it
    assert main(["gradcheck", "--what", "gru", "--cases", "1", "--mode", "adjoint"]) == 1
    out = capsys.readouterr().out
    part = "cell" if function == "gru_cell_backward" else "layer"
    assert f"FAILED: gru  dtype=float64 part={part}" in out
    name = "h" if field == "h_prev" else "weight_hh"
    assert f"\nFAILED: {name}  (mode=adjoint" in out                  # the report names it
    assert "1 passed, 1 failed" in out


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "nplstm", "gradcheck", "--what", "cell",
                             "--cases", "1", "--quiet"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 passed, 0 failed" in result.stdout


def test_bench_cases_parse_and_a_tiny_run_formats():
    assert parse_cases("3,2,4;5,1,2") == [(3, 2, 4), (5, 1, 2)]
    with pytest.raises(ValueError, match="T,B,H"):
        parse_cases("3,2")
    # nplstm alone, in its worker process; nothing is asserted about the times
    rows, rate = time_cases([(3, 2, 4)], repeats=2, warmup=1, threads=1)
    assert rate is None and [r["mode"] for r in rows] == ["fwd+bwd", "forward"]
    assert all(r["nplstm_ms"] > 0 and r["rounds"] == "2/2" for r in rows)
    table = format_table(rows)
    assert "fwd+bwd" in table and "forward" in table


def test_bench_worker_errors_reach_the_parent():
    from nplstm.benchmark.timing import _workers

    with _workers(["nplstm"], 1, "float32") as (worker,):
        with pytest.raises(KeyError):
            worker.call("run", "forward", False)            # no case set up yet


def test_bad_arguments_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--cases", "0"])
    assert info.value.code == 2


def test_version(capsys):
    import nplstm

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nplstm {nplstm.__version__}"


def test_every_flag_of_every_command_has_help_showing_its_default():
    import argparse

    from nplstm.cli import build_parser
    from nplstm.training.config import TASK_DEFAULTS

    _, sub = build_parser()
    for command, parser in sub.choices.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = f"{command} {action.option_strings}"
            assert action.help, f"{name} has no help"
            if action.default not in (None, False):
                assert f"default: {action.default}" in action.help, name
    train_help = {a.dest: a.help for a in sub.choices["train"]._actions}
    steps = ", ".join(f"{d['steps']} ({task})" for task, d in TASK_DEFAULTS.items())
    assert f"default: {steps}" in train_help["steps"]
    assert "default: 1000 (charlm), 4000 (adding)" in train_help["steps"]


def test_every_command_has_a_description_in_its_help():
    from nplstm.cli import build_parser

    _, sub = build_parser()
    assert {"train", "sample", "convert", "inspect", "visualize", "exercise", "gradcheck",
            "bench"} <= set(sub.choices)
    for command, parser in sub.choices.items():
        assert parser.description and len(parser.description) > 40, command
        assert " ".join(parser.description.split()) in " ".join(parser.format_help().split())


def test_sample_reads_runs_charlm_by_default_like_train():
    from nplstm.cli import build_parser

    parser, _ = build_parser()
    assert parser.parse_args(["sample"]).out == "runs/charlm"
