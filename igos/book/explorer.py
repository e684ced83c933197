"""An interactive explorer (ipywidgets): photo x model x method x options -> heatmap and curves.

Used by ``book/90_explorer.ipynb``. Every choice maps onto one call of
:func:`igos.explain` and the deletion/insertion curves of :mod:`igos.metrics`, so what
the explorer shows is exactly what the package computes.
"""
from __future__ import annotations

import io
from typing import Sequence

import matplotlib.pyplot as plt
import torch
from IPython.display import display

from .. import metrics, plotting
from ..data import ImageSet, load_images, read_image, resize_crop
from ..methods import METHODS, get
from ..models import load_model

#: Light settings so that every choice answers within seconds to a minute on a CPU.
QUICK_OPTIONS = {
    "integrated_gradients": {"n_steps": 32},
    "rsi_grad_cam": {"n_steps": 16},
    "rise": {"n_masks": 500, "batch_size": 50},
    "i_gos": {"n_iter": 10},
    "meaningful_perturbation": {"n_iter": 150},
}
RESOLUTIONS = (7, 14, 28, 56, 112, 224)


def method_options(method: str, *, layer=None, score: str | None = None, resolution: int | None = None,
                   quick: bool = True) -> dict:
    """Keyword options for the method ``method``, keeping only those it takes (its registry entry's ``options``)."""
    entry = get(method)
    params = entry.options
    options = dict(QUICK_OPTIONS.get(entry.name, {})) if quick else {}
    for name, value in (("layer", layer), ("score", score), ("resolution", resolution)):
        if value is not None and name in params:
            options[name] = value
    return {k: v for k, v in options.items() if k in params}


def explain_one(model, image: torch.Tensor, target: int, method: str, *, n_steps: int = 50, **choices):
    """Saliency and deletion/insertion curves of one image ``[3, H, W]`` -> ``(saliency [h, w], del, ins)``."""
    images = image[None].to(model.device)
    saliency = get(method)(model, images, target, **method_options(method, **choices))
    dele = metrics.deletion_curve(model, images, saliency, target, n_steps=n_steps)
    ins = metrics.insertion_curve(model, images, saliency, target, n_steps=n_steps)
    return saliency[0], (dele.fractions, dele.probs[0]), (ins.fractions, ins.probs[0])


def figure(image: torch.Tensor, saliency: torch.Tensor, deletion, insertion, *, title: str = ""):
    """Image | overlay | curves, one row."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), gridspec_kw={"width_ratios": [1, 1, 1.25]})
    plotting.overlay(axes[0], image.cpu(), title="image")
    plotting.overlay(axes[1], image.cpu(), saliency.cpu(), title=title)
    plotting.curves(axes[2], deletion, insertion, title="deletion / insertion")
    fig.tight_layout()
    return fig


class Explorer:
    """The widget: choose photo (or upload one), model, method, resolution, layer and score.

    Args:
        data: photos to choose from (default: the embedded ones).
        models: model names for the model menu; the first is loaded at once.
        methods: method names (default: every registered method).
        device: where the models run.
    """

    def __init__(self, data: ImageSet | None = None, *, models: Sequence[str] = ("efficientnet_lite0",),
                 methods: Sequence[str] | None = None, device="auto", layers: Sequence[str] | None = None):
        import ipywidgets as W

        self.W = W
        self.data = data if data is not None else load_images("embedded")
        self.device = device
        self._models = {}
        self.model = self._model(models[0])
        names = list(methods or METHODS)
        style = {"description_width": "80px"}
        self.photo = W.Dropdown(options=list(self.data.names), description="photo", style=style)
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.model_menu = W.Dropdown(options=list(models), description="model", style=style)
        self.method = W.Dropdown(options=names, value="i_gos" if "i_gos" in names else names[0],
                                 description="method", style=style)
        self.resolution = W.Dropdown(options=RESOLUTIONS, value=28, description="resolution", style=style)
        self.layer = W.Dropdown(options=self._layers(layers), description="layer", style=style)
        self.score = W.ToggleButtons(options=["logit", "prob", "log_prob"], value="logit", description="score",
                                     style=style)
        self.status = W.HTML()
        self.output = W.Output()
        self._uploaded = None
        self.last: dict = {}
        for w in (self.photo, self.model_menu, self.method, self.resolution, self.layer, self.score):
            w.observe(lambda _change: self.update(), names="value")
        self.upload.observe(self._on_upload, names="value")
        controls = W.VBox([W.HBox([self.photo, self.upload]), W.HBox([self.model_menu, self.method]),
                           W.HBox([self.resolution, self.layer]), self.score, self.status])
        self.widget = W.VBox([controls, self.output])

    def _model(self, name: str):
        if name not in self._models:
            self._models[name] = load_model(name, device=self.device)
        return self._models[name]

    def _layers(self, layers=None) -> list[str]:
        default = self.model.default_layer
        options = list(layers) if layers else [default]
        return options if default in options else [default, *options]

    def _on_upload(self, change) -> None:
        value = change["new"]
        files = list(value.values()) if isinstance(value, dict) else list(value)
        if not files:
            return
        content = files[0]["content"]
        arr = read_image(io.BytesIO(bytes(content)))
        self._uploaded = resize_crop(arr, self.model.input_size)[0]
        self.update()

    def current(self) -> tuple[torch.Tensor, int, str]:
        """The photo, its target class and its name."""
        if self._uploaded is not None:
            image = self._uploaded
            with torch.no_grad():
                target = int(self.model(image[None].to(self.model.device)).argmax())
            return image, target, "upload"
        i = self.data.names.index(self.photo.value)
        label = int(self.data.labels[i])
        image = self.data.images[i]
        if label < 0:
            with torch.no_grad():
                label = int(self.model(image[None].to(self.model.device)).argmax())
        return image, label, self.photo.value

    def update(self) -> None:
        """Recompute for the current choices and redraw (the status line shows progress)."""
        self.model = self._model(self.model_menu.value)
        method = self.method.value
        self.layer.disabled = not get(method).takes_layer
        self.resolution.disabled = not get(method).takes_resolution
        image, target, name = self.current()
        self.status.value = f"<i>computing {method} for {name}...</i>"
        try:
            sal, dele, ins = explain_one(self.model, image, target, method, layer=self.layer.value,
                                         score=self.score.value, resolution=self.resolution.value)
        except Exception as err:  # shown to the reader rather than lost in a callback
            self.status.value = f"<b>error:</b> {type(err).__name__}: {err}"
            return
        self.last = {"saliency": sal, "deletion": dele, "insertion": ins, "target": target, "method": method}
        cls = self.model.class_names[target] if self.model.class_names else str(target)
        self.output.clear_output(wait=True)
        fig = figure(image, sal, dele, ins, title=f"{method} ({cls})")
        with self.output:
            display(fig)
        plt.close(fig)
        self.status.value = f"{method} on {name}: map {tuple(sal.shape)}, target {cls}"

    def show(self):
        """Compute the current state and return the widget (display it as a cell's last value)."""
        self.update()
        return self.widget
