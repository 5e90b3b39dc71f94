"""The tilesim Python package against the command line: the same reports,
the same errors (message, file, line), overrides, sweeps for pandas, and
the GIL released while simulating. Small cases only (one layer, short
contexts): ci/python-test.sh runs this suite on every CI run."""

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
import tilesim

ROOT = Path(__file__).resolve().parents[2]
HF = ROOT / "tests" / "data" / "hf"


def cli(*args, check=True):
    """Runs the tilesim binary (TILESIM_BIN, else target/debug/tilesim)."""
    exe = os.environ.get("TILESIM_BIN") or str(ROOT / "target" / "debug" / "tilesim")
    if not Path(exe).exists():
        if os.environ.get("TILESIM_BIN"):
            raise AssertionError(f"TILESIM_BIN={exe} does not exist")
        pytest.skip(f"no tilesim binary at {exe} (cargo build, or set TILESIM_BIN)")
    p = subprocess.run([exe, *args], cwd=ROOT, capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def test_lists_shipped_configs():
    chips = tilesim.chips()
    assert {"name", "description"} <= set(chips[0])
    names = [c["name"] for c in chips]
    assert "h100" in names and "groq-576" in names
    assert "llama-2-7b" in [m["name"] for m in tilesim.models()]


def test_compare_is_the_cli_json():
    args = dict(layers=1, context=64)
    got = tilesim.compare("llama-2-7b", chips=["h100", "mesh-3ddram"], **args)
    out = cli("compare", "--model", "llama-2-7b", "--chip", "h100", "--chip", "mesh-3ddram",
              "--layers", "1", "--context", "64", "--json").stdout
    assert got == json.loads(out)
    assert [r["status"] for r in got["rows"]] == ["ok", "ok"]
    assert list(got["rows"][0])[:3] == ["status", "chip", "plan"]


def test_compare_keeps_going_past_a_chip_that_does_not_fit():
    got = tilesim.compare("llama-2-70b", chips=["h100", "dgx-h100"], context=64, steps=1, layers=None)
    rows = got["rows"]
    assert rows[0]["status"] == "does-not-fit" and "Would fit" in rows[0]["error"]
    assert rows[1]["status"] == "ok"


def test_roofline_and_strategies():
    floor = tilesim.roofline("llama-2-7b", "dgx-h100", batch=8)
    assert floor == json.loads(cli("roofline", "--model", "llama-2-7b", "--chip", "dgx-h100",
                                   "--batch", "8", "--json").stdout)
    r = tilesim.compare("llama-2-7b", "mesh-3ddram", layers=1, context=64, strategies=["root", "tiled"])
    assert [row["plan"]["strategy"] for row in r["rows"]] == ["root", "tiled"]


def test_errors_carry_the_cli_message_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    text = tilesim.import_model(HF / "llama-3-8b" / "config.json").replace("kv_heads = 8", "kv_heads = 7")
    bad.write_text(text)
    with pytest.raises(tilesim.TilesimError) as e:
        tilesim.roofline(str(bad), "h100")
    p = cli("roofline", "--model", str(bad), "--chip", "h100", check=False)
    assert p.returncode == e.value.exit_code == 2
    assert p.stderr == f"error: {e.value}\n"
    assert e.value.file == str(bad) and e.value.line == text.splitlines().index("kv_heads = 7") + 1
    assert e.value.column == 1 and e.value.kind == "config"

    # A config.json asking for what the compiler cannot map (MoE only every
    # second layer) is refused at its key.
    sparse = tmp_path / "config.json"
    qwen = (HF / "qwen1.5-moe-a2.7b" / "config.json").read_text()
    assert '"decoder_sparse_step": 1' in qwen
    sparse.write_text(qwen.replace('"decoder_sparse_step": 1', '"decoder_sparse_step": 2'))
    line = sparse.read_text().splitlines().index('  "decoder_sparse_step": 2,') + 1
    with pytest.raises(tilesim.TilesimError) as e:
        tilesim.compare(str(sparse), ["h100"])
    assert "MoE only every 2th layer" in e.value.message
    assert (e.value.file, e.value.line, e.value.column) == (str(sparse), line, 3)

    with pytest.raises(tilesim.TilesimError) as e:
        tilesim.roofline("llama-2-7b", "dgx-h100", tp=16)
    assert "the system has 8 chips" in str(e.value) and e.value.file is None and e.value.kind == "compile"


def test_bad_keywords_are_type_errors():
    with pytest.raises(TypeError, match="unexpected keyword argument `bacth`"):
        tilesim.roofline("llama-2-7b", "h100", bacth=4)
    with pytest.raises(TypeError, match="batch"):
        tilesim.roofline("llama-2-7b", "h100", batch="many")


def test_models_and_chips_as_paths_config_json_and_toml_text():
    toml = tilesim.import_model(HF / "mistral-7b-v0.1" / "config.json", name="mistral")
    assert 'name = "mistral"' in toml
    a = tilesim.roofline(toml, "h100", layers=1)
    b = tilesim.roofline(str(HF / "mistral-7b-v0.1" / "config.json"), "h100", layers=1)
    assert a["rows"][0]["totals"] == b["rows"][0]["totals"]
    chip = (ROOT / "configs" / "chips" / "h100.toml").read_text()
    assert tilesim.roofline("llama-2-7b", chip) == tilesim.roofline("llama-2-7b", "h100")


def test_overrides_set_and_unset():
    two = tilesim.roofline("llama-2-7b", "dgx-h100", overrides={"system.chips": 2})
    assert two["rows"][0]["chips_used"] == 2
    with pytest.raises(tilesim.TilesimError, match="--unset system.switch_latency"):
        tilesim.roofline("llama-2-7b", "dgx-h100", overrides={"system.topology": "ring"})
    ring = tilesim.roofline("llama-2-7b", "dgx-h100",
                            overrides={"system.topology": "ring", "system.switch_latency": None})
    assert ring["rows"][0]["chips_used"] == 8
    same = tilesim.roofline("llama-2-7b", "dgx-h100", overrides={"system.topology": "ring"},
                            unset=["system.switch_latency"])
    assert same == ring


def test_sweep_rows_are_the_cli_json_lines_and_fit_pandas():
    kw = dict(batch=[1, 8], layers=1, context=64, overrides={"system.chips": [1, 2]})
    rows = tilesim.sweep(["llama-2-7b"], ["dgx-h100"], **kw)
    out = cli("sweep", "--model", "llama-2-7b", "--chip", "dgx-h100", "--batch", "1,8", "--layers", "1",
              "--context", "64", "--set", "system.chips=1|2", "--format", "json").stdout
    assert rows == [json.loads(line) for line in out.splitlines()]
    header = cli("sweep", "--model", "llama-2-7b", "--chip", "h100", "--floor-only").stdout.splitlines()[0]
    assert list(rows[0]) == header.split(",")
    assert [r["index"] for r in tilesim.sweep("llama-2-7b", "dgx-h100", shard="1/2", **kw)] == [1, 3]
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(rows)
    assert df.shape == (4, len(header.split(","))) and (df["status"] == "ok").all()


def test_compile_then_run_takes_the_chip_from_the_header(tmp_path):
    out = tmp_path / "t.tbin"
    made = tilesim.compile("llama-2-7b", "h100", out, layers=1, context=64)
    assert made["output"] == str(out) and made["chip"] == "h100" and out.exists()
    r = tilesim.run(out)
    assert r == tilesim.run(str(out), chip="h100")
    assert r["tokens_per_second"] > 0
    assert r == json.loads(cli("run", str(out), "--json").stdout)


def test_run_takes_the_config_of_a_model_from_a_file(tmp_path):
    out = tmp_path / "m.tbin"
    config = str(ROOT / "tests/data/hf/mistral-7b-v0.1/config.json")
    tilesim.compile(config, "h100", out, layers=1, context=64)
    assert tilesim.run(out)["floor"] is None
    r = tilesim.run(out, model=config)
    assert r["floor"] is not None and r["over_floor"] >= 1
    assert r == json.loads(cli("run", str(out), "--model", config, "--json").stdout)


def test_the_gil_is_released_while_simulating():
    started = threading.Event()
    result = {}

    def work():
        started.set()
        result["r"] = tilesim.compare("llama-2-7b", ["mesh-3ddram", "h100"], layers=2, context=512)

    t = threading.Thread(target=work)
    t.start()
    started.wait()
    spins = 0
    while t.is_alive():
        spins += 1
    t.join()
    assert [r["status"] for r in result["r"]["rows"]] == ["ok", "ok"]
    # Holding the GIL for the whole call would leave this thread a handful
    # of iterations at most.
    assert spins > 10_000, spins
