"""The library's boundary: what ``import igos`` needs, and what a user of the core gets."""
from __future__ import annotations

import subprocess
import sys

#: Modules of the extras (plot, experiment, book); the core must work without any of them.
EXTRAS = ("matplotlib", "pandas", "yaml", "scipy", "ipywidgets")

CORE_SCRIPT = f"""
import sys
for name in {EXTRAS!r}:
    sys.modules[name] = None          # any import of it now raises ImportError
import torch, igos
data = igos.load_images("embedded", n=2)
model = igos.load_model("tiny_cnn", device="cpu")
x = torch.nn.functional.interpolate(data.images, size=32)
for name in igos.METHODS:
    assert name in igos.__all__, name
assert igos.gradient(model, x).shape == (2, 32, 32)
assert igos.deletion(model, x, igos.grad_cam(model, x), n_steps=8).shape == (2,)
print("core ok", igos.__version__)
"""


def test_core_works_without_the_extras(tmp_path):
    """Outside the clone's folder, with matplotlib, pandas, pyyaml, scipy and ipywidgets unavailable."""
    out = subprocess.run([sys.executable, "-c", CORE_SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "core ok" in out.stdout


def test_import_igos_loads_neither_pyplot_nor_pandas(tmp_path):
    script = "import sys, igos; print(sorted(m for m in ('matplotlib.pyplot', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_installed_wheel_outside_the_clone_runs_a_chapter(tmp_path):
    """What Colab does: a regular (non-editable) install of the package, then a chapter run
    from a folder outside the clone. The wheel is built from this checkout and installed
    without dependencies into a fresh virtual environment, which sees the dependencies of the
    test environment (torch...) through a path file, but not its editable igos."""
    import site
    import sysconfig
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), str(root)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = next(wheels.glob("igos-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    shared = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (Path(purelib) / "test-env.pth").write_text("\n".join(sorted(shared)) + "\n")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("PYTHONPATH", "IGOS_DATA", "IGOS_RESULTS")}
    env["IGOS_FAST"] = "1"
    check = subprocess.run([str(python), "-c", "import igos; print(igos.__file__); print(len(igos.load_images('embedded').names))"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stderr
    where, n = check.stdout.split()
    assert Path(where).is_relative_to(venv) and int(n) == 7          # the installed copy, with its photos
    cli = subprocess.run([str(venv / "bin" / "igos"), "--help"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300)
    assert cli.returncode == 0 and all(c in cli.stdout for c in ("run", "table", "config")), cli.stdout + cli.stderr
    chapter = root / "book" / "01_models_and_images.ipynb"
    run = subprocess.run([str(python), "-m", "papermill", str(chapter), str(work / "out.ipynb"), "--cwd", str(work),
                          "-k", "python3", "--no-progress-bar", "--log-level", "WARNING"],
                         cwd=work, env={**env, "MPLBACKEND": "Agg"}, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    import nbformat

    done = nbformat.read(work / "out.ipynb", 4)
    assert done.metadata["kernelspec"]["name"] == "python3"
    assert all(c.get("outputs") is not None for c in done.cells if c.cell_type == "code")
