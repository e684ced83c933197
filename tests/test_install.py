"""The library's boundary: what ``import igos`` needs, and what a user of the core gets."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


def _imports(path):
    """``[(module, names)]`` of every import statement of a file of igos/, with relative imports resolved."""
    import ast

    package = path.relative_to(ROOT).with_suffix("").parts[:-1]          # ("igos", "book") for igos/book/x.py
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(filter(None, (base, node.module)))
            names = [a.name for a in node.names]
            if node.module is None:          # from .. import tables: each name is a module
                found += [(f"{module}.{n}", []) for n in names]
            else:
                found.append((module, names))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
    return [(m, n) for m, n in found if m.startswith("igos")], ".".join(package)


def _private(module: str, names: list, package: str) -> list:
    """What an import takes that is private to another module: a ``_name``, or a ``_module`` outside its package."""
    taken = [n for n in names if n.startswith("_") and n not in ("__version__",)]
    parts = module.split(".")
    for k, part in enumerate(parts):
        owner = ".".join(parts[:k])
        if part.startswith("_") and not (package == owner or package.startswith(owner + ".")):
            taken.append(module)
    return taken


def test_the_library_never_imports_the_book():
    """``igos.book`` holds what only the chapters use: no module outside it imports it, and no module
    takes another module's private names."""
    files = sorted((ROOT / "igos").rglob("*.py"))
    library = [p for p in files if "book" not in p.relative_to(ROOT / "igos").parts]
    assert len(library) > 20
    into_book = [(p.name, m) for p in library for m, _ in _imports(p)[0] if m.startswith("igos.book")]
    assert not into_book, into_book
    private = []
    for p in files:
        found, package = _imports(p)
        private += [(str(p.relative_to(ROOT)), taken) for m, names in found if (taken := _private(m, names, package))]
    assert not private, private


def test_the_boundary_rules_catch_a_violation():
    assert _private("igos.methods._shared", ["prepare"], "igos.book")
    assert _private("igos.experiment.run", ["_Recorder"], "igos.book")
    assert not _private("igos.methods._shared", ["prepare"], "igos.methods")
    assert not _private("igos.tables", ["layout"], "igos.book")


def test_importing_the_library_loads_no_book_module(tmp_path):
    script = ("import sys, igos, igos.experiment, igos.tables, igos.plotting, igos.attacks; "
              "print(sorted(m for m in sys.modules if m.startswith('igos.book')))")
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
