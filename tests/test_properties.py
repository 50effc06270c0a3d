"""Property-based tests: random inputs at the commands, one outcome of two (issue 21).

Hypothesis throws random dtypes, shapes, page layouts, NaN patterns, damaged JSON and YAML
and random configuration values at ``denoise``, ``analyze``, ``train --profile smoke``,
``run --plan`` and ``report``. Every example must end in one of two ways:

- exit status 0 with a correct output (checked per command), or
- exit status 1 or 2 with exactly one ``error:`` line, no traceback, and every file the
  user had (inputs, the model, the run's records) byte-for-byte unchanged.

The profile is derandomised (the same examples on every machine) with a bounded number of
examples, and uses the cheap methods (``noisy``, ``gaussian``), so the module runs in well
under two minutes on 2 CPU cores.
"""

import contextlib
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from typer.testing import CliRunner

from structnoise.cli import app

settings.register_profile(
    "structnoise-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("structnoise-ci")

runner = CliRunner()


# ------------------------------------------------------------------ helpers
def _invoke(*args) -> tuple[int, str]:
    """Run the command in-process; an exception other than an exit is a traceback."""
    result = runner.invoke(app, [str(a) for a in args])
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), (
        f"traceback from {args}: {exc!r}\n{result.output}"
    )
    if result.exit_code == 0:
        _event(f"{args[0]}: exit 0")
    return result.exit_code, result.output


def _event(text: str) -> None:
    """Count an outcome in hypothesis' statistics (``--hypothesis-show-statistics``)."""
    with contextlib.suppress(InvalidArgument):  # outside a test: the module fixture
        event(text)


def _hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under the given files or folders."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def _check_refusal(code: int, output: str) -> str:
    """A refusal: exit 1 or 2, exactly one ``error:`` line, no traceback."""
    _event("refused")
    assert code in (1, 2), output
    assert "Traceback" not in output, output
    lines = [ln for ln in output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, output
    assert len(lines[0]) > len("error: ") + 10, output
    return lines[0]


@pytest.fixture(scope="module")
def workspace():
    """A saved ``noisy`` and ``gaussian`` model and a finished run folder (made once)."""
    with tempfile.TemporaryDirectory(prefix="structnoise-props-") as tmp:
        root = Path(tmp)
        img = np.random.default_rng(0).random((2, 32, 32)).astype(np.float32)
        tifffile.imwrite(root / "train.tif", img)
        for name in ("noisy", "gaussian"):
            code, out = _invoke("train", name, root / "train.tif", "--out", root / name)
            assert code == 0, out
        code, out = _invoke(
            "run",
            "--profile",
            "smoke",
            "--methods",
            "noisy,gaussian",
            "--out",
            root / "run",
            "--quiet",
        )
        assert code == 0, out
        yield root


# ------------------------------------------------------------------ strategies
DTYPES = ["uint8", "uint16", "int8", "int16", "int32", "float32", "float64", "bool"]


@st.composite
def images(draw):
    """A random array: dtype, 2-D or 3-D shape, values, and for floats NaN/inf/huge spots."""
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    ndim = draw(st.sampled_from([2, 3]))
    shape = tuple(
        draw(st.integers(1, 4)) if (ndim == 3 and i == 0) else draw(st.integers(1, 40))
        for i in range(ndim)
    )
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    pattern = draw(st.sampled_from(["random", "constant", "extreme"]))
    if dtype.kind == "b":
        arr = rng.random(shape) > 0.5
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        lo, hi = (info.min, info.max) if pattern == "extreme" else (0, min(info.max, 1000))
        arr = rng.integers(lo, hi, size=shape, endpoint=True, dtype=dtype)
    else:
        scale = draw(st.sampled_from([1.0, 1e-30, 1e4, 3e38])) if pattern == "extreme" else 1.0
        arr = (rng.random(shape) * scale).astype(dtype)
        spots = draw(st.sampled_from(["none", "nan", "inf", "all-nan"]))
        if spots != "none":
            value = np.inf if spots == "inf" else np.nan
            mask = np.ones(shape, bool) if spots == "all-nan" else rng.random(shape) < 0.05
            arr[mask] = value
    if pattern == "constant" and arr.size:
        arr = np.full(shape, arr.flat[0], dtype=dtype)
    return arr


@st.composite
def tiff_files(draw, folder: Path):
    """A TIFF on disk: one array, or several pages of random shapes and dtypes."""
    layout = draw(st.sampled_from(["single", "single", "pages"]))
    path = folder / "in.tif"
    if layout == "single":
        arr = draw(images())
        tifffile.imwrite(path, arr)
        return path, arr
    pages = draw(st.lists(images(), min_size=2, max_size=3))
    with tifffile.TiffWriter(path) as tif:
        for page in pages:
            tif.write(page if page.ndim == 2 else page[0])
    return path, None


# ------------------------------------------------------------------ denoise
@settings(max_examples=60)
@given(data=st.data())
def test_denoise_random_images(workspace, data):
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        folder = Path(tmp)
        path, arr = data.draw(tiff_files(folder))
        method = data.draw(st.sampled_from(["noisy", "gaussian"]))
        model = workspace / method
        before = _hashes(path, model)
        out = folder / "out.tif"
        code, output = _invoke("denoise", model, path, out)
        assert _hashes(path, model) == before
        if code != 0:
            _check_refusal(code, output)
            assert not out.exists()
            return
        result = tifffile.imread(out)
        assert result.dtype == np.float32 and np.isfinite(result).all()
        if arr is not None:
            assert result.shape == arr.shape
            if method == "noisy":  # the identity: the input in float32
                np.testing.assert_array_equal(result, arr.astype(np.float32))


# ------------------------------------------------------------------ analyze
@settings(max_examples=40)
@given(data=st.data())
def test_analyze_random_images(workspace, data):
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        path, _ = data.draw(tiff_files(Path(tmp)))
        before = _hashes(path)
        code, output = _invoke("analyze", path)
        assert _hashes(path) == before
        if code != 0:
            _check_refusal(code, output)
            return
        first = output.splitlines()[0]
        assert first.split()[:2] in (
            ["axis:", "horizontal"],
            ["axis:", "vertical"],
            ["axis:", "none"],
        ), output


# ------------------------------------------------------------------ train --profile smoke
JSONISH = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 3), max_size=3),
)


@settings(max_examples=40)
@given(
    data=st.data(),
    key=st.sampled_from(["sigma", "sigma_x", "sigma_y", "seed", "max_minutes", "sgma"]),
    value=JSONISH,
)
def test_train_with_random_settings(workspace, data, key, value):
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        folder = Path(tmp)
        path, _ = data.draw(tiff_files(folder))
        before = _hashes(path)
        out = folder / "model"
        code, output = _invoke(
            "train",
            "gaussian",
            path,
            "--out",
            out,
            "--profile",
            "smoke",
            "--no-progress",
            "--set",
            f"{key}={json.dumps(value)}",
        )
        assert _hashes(path) == before
        if code != 0:
            _check_refusal(code, output)
            assert not out.exists()
            assert [p.name for p in folder.iterdir()] == ["in.tif"]  # no half-written model
            return
        meta = json.loads((out / "method.json").read_text())
        assert meta["method"] == "gaussian"
        code, output = _invoke("denoise", out, path, folder / "d.tif")  # it loads again
        assert code == 0 or _check_refusal(code, output)


# ------------------------------------------------------------------ damaged method.json
@st.composite
def damaged_json(draw, text: str):
    """A saved method.json damaged: cut short, a value replaced, a key dropped, not JSON,
    a bad ``data_range`` or a hand-edited ``sigma``."""
    how = draw(st.sampled_from(["truncate", "value", "drop", "garbage", "type", "range", "sigma"]))
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "garbage":
        return draw(st.text(max_size=30))
    meta = json.loads(text)
    if how == "range":  # data_range: [min, max] in a good file
        meta["data_range"] = draw(st.lists(st.one_of(st.integers(-3, 3), st.floats()), max_size=3))
        return json.dumps(meta, allow_nan=True)
    if how == "sigma":  # a hand-edited setting: text, huge, negative, a list
        meta["params"]["sigma"] = draw(st.sampled_from([1e12, "abc", -1.0, [1.0], 2.5, 0]))
        return json.dumps(meta)
    if how == "type":
        return json.dumps(draw(JSONISH))
    keys = [("", k) for k in meta] + [("params", k) for k in meta["params"]]
    keys += [("", "data_range"), ("", "format"), ("params", "sigma")]  # where values matter
    where, key = draw(st.sampled_from(keys))
    target = meta[where] if where else meta
    if how == "drop":
        target.pop(key, None)
    else:
        target[key] = draw(JSONISH)
    return json.dumps(meta, allow_nan=True)


@settings(max_examples=60)
@given(data=st.data())
def test_denoise_with_a_damaged_model_folder(workspace, data):
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        folder = Path(tmp)
        model = folder / "model"
        shutil.copytree(workspace / "gaussian", model)
        text = (model / "method.json").read_text()
        (model / "method.json").write_text(data.draw(damaged_json(text)))
        src = workspace / "train.tif"
        before = _hashes(model, src)
        out = folder / "out.tif"
        code, output = _invoke("denoise", model, src, out)
        assert _hashes(model, src) == before
        if code != 0:
            _check_refusal(code, output)
            assert not out.exists()
            return
        result = tifffile.imread(out)
        assert result.shape == tifffile.imread(src).shape and np.isfinite(result).all()


# ------------------------------------------------------------------ run --plan
CONFIG_KEYS = {
    "name": st.one_of(st.text(max_size=8), JSONISH),
    "profile": st.one_of(st.sampled_from(["smoke", "quick", "paper", "fast"]), JSONISH),
    "methods": st.one_of(
        st.lists(
            st.sampled_from(["noisy", "gaussian", "gaussian[sigma=2]", "nope", "bm3d"]), max_size=3
        ),
        JSONISH,
    ),
    "datasets": st.one_of(
        st.lists(
            st.sampled_from(["embedded-stripe", "embedded-checkerboard", "none-such"]), max_size=2
        ),
        JSONISH,
    ),
    "seeds": st.one_of(st.lists(st.integers(-2, 5), max_size=3), JSONISH),
    "max_minutes": JSONISH,
    "base_seed": JSONISH,
    "unknown_key": JSONISH,
}


@st.composite
def configs(draw):
    """A valid run configuration with up to two keys set at random, sometimes damaged YAML."""
    import yaml

    cfg = {"profile": "smoke", "methods": ["noisy"], "datasets": ["embedded-stripe"]}
    keys = draw(st.lists(st.sampled_from(sorted(CONFIG_KEYS)), unique=True, max_size=2))
    cfg.update({k: draw(CONFIG_KEYS[k]) for k in keys})
    text = yaml.safe_dump(cfg, allow_unicode=True)
    damage = draw(st.sampled_from(["none", "none", "truncate", "tab", "tag"]))
    if damage == "truncate" and text:
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "tab":
        text = text.replace(" ", "\t", 1)
    elif damage == "tag":
        text += "extra: !!python/object/apply:os.system ['echo owned']\n"
    return text


@settings(max_examples=60)
@given(text=configs())
def test_run_plan_with_random_configurations(workspace, text):
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        folder = Path(tmp)
        cfg = folder / "c.yaml"
        cfg.write_text(text)
        code, output = _invoke("run", cfg, "--plan", "--out", folder / "r")
        assert [p.name for p in folder.iterdir()] == ["c.yaml"]  # --plan writes nothing
        assert cfg.read_text() == text
        if code != 0:
            _check_refusal(code, output)
            return
        assert output.startswith("plan of "), output


# ------------------------------------------------------------------ report
@st.composite
def run_damage(draw):
    """Which file of a run folder to damage, and how."""
    target = draw(
        st.sampled_from(
            [
                "cell",
                "results.csv",
                "results.parquet",
                "run.json",
                "example",
                "denoised",
                "provenance.json",
            ]
        )
    )
    how = draw(st.sampled_from(["truncate", "garbage", "json", "delete"]))
    return target, how, draw(st.integers(0, 2**16)), draw(JSONISH)


@settings(max_examples=12)
@given(damage=run_damage())
def test_report_on_a_damaged_run_folder(workspace, damage):
    target, how, seed, value = damage
    with tempfile.TemporaryDirectory(dir=workspace) as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(workspace / "run", run)
        files = {
            "cell": sorted((run / "cells").glob("*.json"))[seed % 2],
            "example": next((run / "examples").iterdir()),
            "denoised": sorted((run / "denoised").iterdir())[seed % 2],
        }
        path = files.get(target, run / target)
        if how == "delete":
            path.unlink()
        elif how == "truncate":
            data = path.read_bytes()
            path.write_bytes(data[: seed % max(len(data), 1)])
        elif how == "garbage":
            path.write_bytes(np.random.default_rng(seed).bytes(64))
        else:
            path.write_text(json.dumps(value, allow_nan=True))
        kept = [run / "cells", run / "denoised", run / "examples", run / "config.yaml"]
        before = _hashes(*[k for k in kept if k.exists()])
        code, output = _invoke("report", run)
        assert _hashes(*[k for k in kept if k.exists()]) == before
        if code != 0:
            _check_refusal(code, output)
            return
        assert (run / "table1.md").is_file() and (run / "report.html").is_file()
        assert "wrote " in output
