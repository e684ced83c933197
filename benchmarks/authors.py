"""Run the I-GOS authors' own code (khorrams/IGOS_pp) on our model, for comparison.

    .venv/bin/python benchmarks/authors.py --authors PATH/TO/IGOS_pp [--photo coffee] [--resolution 28]

The authors' code is **not vendored**: ``PATH`` is a checkout (working tree) of
https://github.com/khorrams/IGOS_pp, and its ``methods.py`` and ``methods_helper.py`` are
imported from there at run time (under private module names; the rest of their repository
is not imported, so OpenCV, seaborn and the detectors are not needed). Their files are never
modified. We call ``methods.IGOS`` - the I-GOS method of the AAAI 2020 paper, ``--method
I-GOS`` in their ``main.py`` - with the settings their ``main.py`` runs it with by default:

* ``iterations=20`` optimisation steps and ``ig_iter=15`` path points. Their ``args.py`` has
  ``--ig_iter 20`` and ``--iterations 15``, but ``main.py`` passes them crossed
  (``iterations=args.ig_iter, ig_iter=args.iterations``), which gives 20 steps of 15 points,
  the defaults of ``IGOS`` itself and of the paper;
* ``L1=1, L2=20`` (``args.py``), ``size`` = the mask resolution (``--size 28``);
* ``alpha=1000``, the first step of the backtracking line search (``args.py``; the
  ``IGOS`` signature's own default is 8), and ``opt="LS"``: ``main.py`` never passes
  ``args.opt``, so their runner always uses the line search (Armijo, ``beta=1e-4``, decay
  0.2, down to ``1e-5``); ``softmax=True``;
* their ``N(0, 0.2^2)`` noise on the *normalised* images at every path point (hard-coded);
* an all-ones initial mask (``get_initial`` with the default ``init_val=0``).

Adaptations (outside their code):

* Normalisation. Their code expects a model on normalised images and normalised image and
  baseline. Our model takes [0, 1] pixels and normalises inside with its ``mean``/``std``
  buffers, so we feed ``z = (x - mean) / std`` and ``(blur(x) - mean) / std`` and hand them
  ``lambda z: model(z * std + mean)``. Compositing is linear, so their masks act on pixels
  exactly as ours; their 0.2 noise is ``0.2 * std`` in pixel space, as in ``igos.i_gos``.
* Baseline: ``igos.blur`` (Gaussian, kernel 51, sigma 50: their ``ImageSet`` blur, without
  its uint8 rounding) of the whole 224 x 224 image.
* Device. Their code hard-codes ``.cuda()`` and ``device='cuda'``. During the call we make
  ``Tensor.cuda``/``Module.cuda`` move to the model's device and give their ``methods``
  module a ``torch`` whose ``ones`` ignores ``device='cuda'``; everything is restored after.
* Newer torch (they pin 1.7.1; ours is 2.x). Their ``line_search`` assigns ``indices[indices] = ...``,
  which recent torch refuses (the index aliases the written tensor). Its ``indices`` is the only
  bool tensor that goes through ``.cuda()``, so our ``.cuda()`` returns it as a bool tensor whose
  ``__setitem__`` clones a self-index first (:class:`_SelfIndexable`); nothing else changes.
* The model's parameters are set not to require gradients during the call (their ``main.py``
  does the same), and the noise is drawn under a forked RNG seeded with ``seed`` (their
  ``--manual_seed 63``), leaving the caller's RNG untouched.

Their ``IGOS`` returns only the mask. ``info`` adds, cheaply, what the line search did: the
step it accepted at each iteration and how many loss evaluations it took (recorded by
wrapping their ``line_search`` in our private copy of their module namespace).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import inspect
import sys
import time
from pathlib import Path

# benchmarks/igos.py would shadow the package when this file runs as a script
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import igos  # noqa: E402

# main.py's call of IGOS with args.py's defaults (see the module docstring)
DEFAULTS = dict(iterations=20, ig_iter=15, L1=1.0, L2=20.0, alpha=1000.0, opt="LS", softmax=True)


@functools.lru_cache(maxsize=None)
def load_authors(repo_path: str):
    """Import ``methods_helper.py`` and ``methods.py`` of an IGOS_pp checkout -> ``(methods, helper)``."""
    root = Path(repo_path).expanduser().resolve()
    if not (root / "methods.py").is_file() or not (root / "methods_helper.py").is_file():
        raise FileNotFoundError(f"{root} is not a checkout of khorrams/IGOS_pp (no methods.py / methods_helper.py)")

    def load(name, file):
        spec = importlib.util.spec_from_file_location(name, root / file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    helper = load("igos_pp_methods_helper", "methods_helper.py")
    saved = sys.modules.get("methods_helper")
    sys.modules["methods_helper"] = helper  # methods.py does `from methods_helper import *`
    try:
        methods = load("igos_pp_methods", "methods.py")
    finally:
        if saved is None:
            sys.modules.pop("methods_helper", None)
        else:
            sys.modules["methods_helper"] = saved
    return methods, helper


class _TorchOn:
    """``torch`` for their ``methods`` module, with ``torch.ones(..., device='cuda')`` sent to ``device``."""

    def __init__(self, device):
        self._device = device

    def __getattr__(self, name):
        return getattr(torch, name)

    def ones(self, *size, device=None, **kw):
        return torch.ones(*size, device=self._device, **kw)


class _SelfIndexable(torch.Tensor):
    """A bool tensor that may index itself in an assignment, ``m[m] = v`` (torch 2 refuses it).

    Their ``line_search`` updates its active set with ``indices[indices] = ...`` and
    ``indices[indices] *= ...``; recent torch raises "some elements of the input tensor and the
    written-to tensor refer to a single memory location". Cloning the key first reads the
    index before the write, as the code means (and as torch 1.7.1, which they pin, ran it).
    Results of operations on it are plain tensors.
    """
    __torch_function__ = torch._C._disabled_torch_function_impl

    def __setitem__(self, key, value):
        if isinstance(key, torch.Tensor) and key.data_ptr() == self.data_ptr():
            key = key.clone()
        super().__setitem__(key, value)


def _to(device):
    """Their ``.cuda()``: move to ``device``; a bool tensor (only ``line_search``'s active set) becomes
    :class:`_SelfIndexable`."""
    def cuda(self, *a, **k):
        out = self.to(device)
        return out.as_subclass(_SelfIndexable) if out.dtype == torch.bool else out
    return cuda


@contextlib.contextmanager
def _on_device(methods, device):
    """Their hard-coded CUDA calls go to ``device`` while the block runs."""
    saved = torch.Tensor.cuda, torch.nn.Module.cuda, methods.torch
    torch.Tensor.cuda = _to(device)
    torch.nn.Module.cuda = lambda self, *a, **k: self.to(device)
    methods.torch = _TorchOn(device)
    try:
        yield
    finally:
        torch.Tensor.cuda, torch.nn.Module.cuda, methods.torch = saved


def run_authors(repo_path, model, image, target, *, resolution=28, seed=63, **overrides):
    """Explain ``image`` ``[1, 3, 224, 224]`` in [0, 1] for class ``target`` with the authors' ``IGOS``.

    ``overrides`` go to ``IGOS`` over :data:`DEFAULTS` (``iterations``, ``ig_iter``, ``L1``,
    ``L2``, ``alpha``, ``opt``, ``softmax``); ``max_iter`` is an alias of ``iterations``.
    ``seed=None`` leaves the global RNG as it is.

    Returns ``(saliency [r, r] = 1 - mask (large = important), seconds of the IGOS call, info)``.
    """
    methods, helper = load_authors(str(repo_path))
    if "max_iter" in overrides:
        overrides["iterations"] = overrides.pop("max_iter")
    allowed = set(inspect.signature(methods.IGOS).parameters) - {"model", "model_name", "init_mask", "image",
                                                                  "baseline", "label", "size", "kwargs"}
    unknown = set(overrides) - allowed
    if unknown:  # IGOS swallows unknown keywords in **kwargs: refuse them instead
        raise TypeError(f"unknown IGOS settings {sorted(unknown)}; known: {sorted(allowed)}")
    settings = {**DEFAULTS, **overrides}
    if image.dim() != 4 or image.shape[0] != 1:
        raise ValueError(f"image must be [1, 3, H, W], got {tuple(image.shape)}")

    device = image.device if not list(model.parameters()) else next(model.parameters()).device
    image = image.to(device)
    mean = getattr(model, "mean", torch.zeros(1, 3, 1, 1)).to(device).reshape(1, -1, 1, 1)
    std = getattr(model, "std", torch.ones(1, 3, 1, 1)).to(device).reshape(1, -1, 1, 1)
    z = ((image - mean) / std).detach()
    z_blur = ((igos.blur(image) - mean) / std).detach()
    label = torch.tensor([int(target)], device=device)

    steps, evals = [], []
    line_search = methods.line_search

    def recorded_line_search(masks, total_grads, loss_func, *a, **k):
        calls = [0]

        def counted(*args, **kwargs):
            calls[0] += 1
            return loss_func(*args, **kwargs)
        alphas = line_search(masks, total_grads, counted, *a, **k)
        steps.append(float(alphas.flatten()[0]))
        evals.append(calls[0])
        return alphas

    params = list(model.parameters())
    grads = [p.requires_grad for p in params]
    rng = torch.random.fork_rng(devices=[device] if device.type == "cuda" else []) if seed is not None \
        else contextlib.nullcontext()
    try:
        with rng, _on_device(methods, device):
            if seed is not None:
                torch.manual_seed(seed)
            for p in params:
                p.requires_grad_(False)
            methods.line_search = recorded_line_search
            helper.init(image.shape[-1])  # their upsampler, mask -> input size (UpsamplingBilinear2d)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            masks = methods.IGOS(model=lambda x: model(x * std + mean), model_name="classifier",
                                 init_mask=torch.ones(1, 1, resolution, resolution), image=z,
                                 baseline=z_blur, label=label, size=resolution, **settings)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds = time.perf_counter() - start
    finally:
        methods.line_search = line_search
        for p, g in zip(params, grads):
            p.requires_grad_(g)
    mask = masks.detach()[0, 0]
    info = dict(iterations=int(settings["iterations"]), **{k: v for k, v in settings.items() if k != "iterations"},
                size=resolution, seed=seed, noise=0.2, line_search_steps=steps, line_search_evals=evals,
                mean_mask=float(mask.mean()))
    return 1 - mask, seconds, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--authors", required=True, help="path of a khorrams/IGOS_pp checkout")
    ap.add_argument("--photo", default="coffee", help="a name of igos.load_images('embedded')")
    ap.add_argument("--resolution", type=int, default=28)
    ap.add_argument("--max-iter", type=int, default=None, help="fewer iterations than their 20 (smoke tests)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = igos.resolve_device(args.device)
    model = igos.load_model("efficientnet_lite0", device=device)
    data = igos.load_images("embedded")
    if args.photo not in data.names:
        ap.error(f"unknown photo {args.photo!r}; known: {', '.join(data.names)}")
    i = data.names.index(args.photo)
    x, target = data.images[i:i + 1].to(device), int(data.labels[i])
    extra = {} if args.max_iter is None else {"max_iter": args.max_iter}
    sal, seconds, info = run_authors(args.authors, model, x, target, resolution=args.resolution, **extra)
    with torch.no_grad():
        masked = igos.perturbation.perturb(x, igos.blur(x), igos.perturbation.up(1 - sal[None], (224, 224)))
        p = model(torch.cat([x, masked])).softmax(1)[:, target]
    name = model.class_names[target] if model.class_names else target
    print(f"authors' IGOS on {args.photo!r} (target {target}: {name}), {args.resolution}x{args.resolution}, "
          f"{info['iterations']} iterations x {info['ig_iter']} path points, L1={info['L1']:g} L2={info['L2']:g}, "
          f"{info['opt']} from alpha={info['alpha']:g}")
    print(f"p(x) = {p[0]:.4f}   p(masked) = {p[1]:.4f}   mean(1 - M) = {1 - info['mean_mask']:.4f}   "
          f"{seconds:.2f} s")
    print(f"line search: steps {[f'{s:.3g}' for s in info['line_search_steps']]}, "
          f"loss evaluations {info['line_search_evals']}")


if __name__ == "__main__":
    main()
