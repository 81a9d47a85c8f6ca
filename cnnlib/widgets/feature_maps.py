"""Feature maps: what every layer of a trained CNN computes from a photo, as an interactive view.

:func:`feature_map_explorer` shows, for one photo and one layer of a model, the feature maps of the channels that
respond most (or a range of channels by index), with a colour map of the reader's choice; the first layer's filters
as RGB tiles; for Inception blocks (Szegedy et al. 2014, arXiv:1409.4842) the four branches side by side (the
book's one Inception branch viewer; :func:`cnnlib.widgets.inception.branch_viewer` is this view restricted to
GoogLeNet's modules); and a per-layer strip of activation statistics. VGG's layers (Simonyan & Zisserman 2014,
arXiv:1409.1556) come from the model's ``feature_info``.

This module only presents. The layers and the maps come from ``cnnlib.analysis.activations``
(:func:`~cnnlib.analysis.layer_specs`, :class:`~cnnlib.analysis.ActivationCache`, which runs the forward pass
**once per image**), the photos from :mod:`cnnlib.images`, the tiles from :mod:`cnnlib.widgets._tiles`. Moving a
control only picks channels, colours them and encodes small images; ``bench/feature_map_latency.py`` measures it.

The explorer is a :class:`cnnlib.widgets.Explorer`, so it is live in Jupyter/Colab and pre-rendered for the static
book (a small grid: the sample photos x the ``feature_info`` layers x the two channel modes). Live, it adds an
upload button: the reader's own photo becomes the image "your upload" (a file that is not an image gives a message
in the view).

Weights are never silently random: pass the :class:`cnnlib.pretrained.WeightsInfo` that
:func:`cnnlib.pretrained.load_pretrained` returns and the view states which weights it shows. The input size and
normalisation come from the weights, else from the model's own ``pretrained_cfg``.
"""

from __future__ import annotations

import html as _html
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from torch import nn

from ..analysis.activations import ActivationCache, Activations, LayerSpec, first_conv, layer_specs
from ..images import DEFAULT_IMAGES, ImageError, load_image
from ._core import Choice, Explorer, Slider
from ._tiles import COLOUR_MAPS, colourbar, grid, img, pick, stats_table, tile

__all__ = ["COLOUR_MAPS", "FILTERS", "UPLOAD", "FeatureMapExplorer", "feature_map_explorer"]

#: Value of the ``layer`` control that shows the first convolution's filters instead of feature maps.
FILTERS = "__filters__"
#: Value of the ``image`` control that shows the reader's uploaded photo (live only).
UPLOAD = "__upload__"

_NOTE = "font-size:12px;margin:6px 0"


class FeatureMapExplorer(Explorer):
    """An :class:`~cnnlib.widgets.Explorer` of a model's feature maps, with (live only) a photo upload button.

    Build it with :func:`feature_map_explorer` (the arguments are the same).

    Attributes:
        model: the network.
        cache: the :class:`~cnnlib.analysis.ActivationCache` (``cache.forward_count`` counts forward passes).
        layers: the :class:`~cnnlib.analysis.LayerSpec` list, in network order.
        images: image name -> ``H x W x 3`` uint8 photo.
        input_size: side of the square input the photos are cropped to.
        weights_text: the sentence saying which weights the model has.
        upload_widget: the ``ipywidgets.FileUpload`` (after :attr:`widget` is built).
        upload_message: why the latest upload could not be shown, or ``None``.
        last_render_seconds: how long the latest render took.
    """

    def __init__(
        self,
        model: nn.Module,
        images: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        weights: Any = None,
        input_size: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        layer: str | None = None,
        layers: Sequence[str] | None = None,
        filters: bool = True,
        channels: int = 16,
        cmap: str = "viridis",
        static_layers: Sequence[str] | None = None,
        static_images: Sequence[str] | None = None,
        tile_px: int = 64,
        tile_width: int = 84,
        title: str | None = "Feature maps",
    ) -> None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive number of maps per view, got {channels!r}")
        if tile_px < 1 or tile_width < 1:
            raise ValueError(f"tile_px and tile_width must be positive, got {tile_px} and {tile_width}")
        if cmap not in COLOUR_MAPS:
            raise ValueError(f"unknown colour map {cmap!r}; choose from {COLOUR_MAPS}")
        specs = layer_specs(model)
        if layers is not None:
            unknown = [n for n in layers if n not in {s.module for s in specs}]
            if unknown or not layers:
                raise ValueError(f"layers {unknown or list(layers)} are not among {[s.module for s in specs]}")
            specs = [s for s in specs if s.module in set(layers)]
        cfg = getattr(model, "pretrained_cfg", None)
        size = input_size or getattr(weights, "input_size", None) or (cfg.input_size[-1] if cfg else None)
        mean = mean or getattr(weights, "mean", None) or (cfg.mean if cfg else None)
        std = std or getattr(weights, "std", None) or (cfg.std if cfg else None)
        if not size or not mean or not std:
            raise ValueError("give input_size=, mean= and std= (or weights=) for a model without `pretrained_cfg`")
        if int(size) < 1:
            raise ValueError(f"input_size must be a positive number of pixels, got {size!r}")

        if images is None:
            images = DEFAULT_IMAGES
        sources = dict(images) if isinstance(images, Mapping) else {_image_name(s, i): s for i, s in enumerate(images)}
        if not sources:
            raise ValueError("give at least one image")
        self.images: dict[str, np.ndarray] = {str(name): load_image(src) for name, src in sources.items()}
        names = list(self.images)

        self.model = model
        self.layers: list[LayerSpec] = specs
        self._by_name = {s.module: s for s in specs}
        info_layers = [e["module"] for e in getattr(model, "feature_info", [])]
        first = layer or next((n for n in info_layers if n in self._by_name), specs[0].module)
        if first not in self._by_name and not (filters and first == FILTERS):
            raise ValueError(f"unknown layer {first!r}; layers are {list(self._by_name)}")
        wanted_static = list(static_layers) if static_layers is not None else [n for n in info_layers if n in self._by_name]
        static_layer_values = ([FILTERS] if filters else []) + wanted_static
        for s in static_layer_values:
            if s not in self._by_name and s != FILTERS:
                raise ValueError(f"static layer {s!r} is not one of {list(self._by_name)}")

        self.input_size = int(size)
        self.channels = channels
        self.tile_px = tile_px
        self.tile_width = tile_width
        self.weights_text = _describe_weights(weights)
        classes = getattr(weights, "classes", None) or (cfg.classes if cfg else None)
        self.class_names: Sequence[str] | None = classes
        self._native_cifar = cfg is not None and cfg.dataset == "cifar10"  # the model's own metadata, no guessing
        self._conv_name, self._conv = first_conv(model)
        self._filter_tiles: dict[int, str] = {}
        self.cache = ActivationCache(model, specs, input_size=self.input_size, mean=mean, std=std,
                                     max_images=len(self.images) + 4, display_px=tile_px)
        self.upload_widget: Any = None
        self.upload_message: str | None = None
        self._upload_status: Any = None
        self._upload_count = 0
        self._upload_name = "your upload"
        self.last_render_seconds = 0.0

        max_chs = max(s.num_chs for s in specs)
        # A first layer that is not learned (vgg_cifar's patch-whitening filters) is labelled as such.
        fixed = not self._conv.weight.requires_grad
        filters_label = "first-layer filters (fixed, not learned)" if fixed else "first-layer filters"
        layer_options = ([(filters_label, FILTERS)] if filters else []) + [(s.label, s.module) for s in specs]
        controls = {
            "image": Choice("image", [(n, n) for n in names] + [("your upload", UPLOAD)], value=names[0],
                            static=list(static_images or names[:3])),
            "layer": Choice("layer", layer_options, value=first, static=static_layer_values),
            "show": Choice("channels", [(f"{channels} most active", "top"), ("by index", "index")], value="top"),
            "start": Slider("from channel", 0, max(0, max_chs - channels), step=channels, value=0, static=[0]),
            "cmap": Choice("colour map", list(COLOUR_MAPS), value=cmap, static=[cmap]),
        }
        super().__init__(self._render_timed, controls, title=title, dpi=72)

    # -- data ----------------------------------------------------------------------------------
    def activations(self, image: str | None = None) -> Activations:
        """The cached activations of a named image (default: the one shown); runs the forward pass if needed."""
        name = self.values["image"] if image is None else image
        if name == UPLOAD:
            if UPLOAD not in self.images:
                raise ValueError("no image has been uploaded yet")
        elif name not in self.images:
            raise ValueError(f"unknown image {name!r}; images are {sorted(self.images)}")
        return self.cache.get(f"{name}#{self._upload_count}" if name == UPLOAD else name, self.images[name])

    # -- rendering -----------------------------------------------------------------------------
    def _render_timed(self, image: str, layer: str, show: str, start: int, cmap: str) -> str:
        t0 = time.perf_counter()
        try:
            return self._render_view(image, layer, show, start, cmap)
        finally:
            self.last_render_seconds = time.perf_counter() - t0

    def _render_view(self, image: str, layer: str, show: str, start: int, cmap: str) -> str:
        head = f'<div style="font-size:12px;color:#333;margin-bottom:4px">{_html.escape(self.weights_text)}</div>'
        if image == UPLOAD and UPLOAD not in self.images:
            msg = self.upload_message or "No photo uploaded yet: use the “Upload a photo” button (live notebook only)."
            return head + f'<div style="color:#a00;padding:8px;border:1px solid #e4b4b4">{_html.escape(msg)}</div>'
        acts = self.activations(image)
        body = self._render_filters(acts, show) if layer == FILTERS else self._render_maps(acts, self._by_name[layer], show, start, cmap)
        return head + self._input_note(acts, image) + body + stats_table(acts.stats, highlight=None if layer == FILTERS else layer)

    def _input_note(self, acts: Activations, image: str) -> str:
        shown = self._upload_name if image == UPLOAD else image
        h, w = self.images[image].shape[:2]
        size = self.input_size
        native = "this CIFAR-10 model (its photos are 32 × 32)" if self._native_cifar and size == 32 else "the model"
        note = f"{_html.escape(shown)} ({w} × {h} px), resized and cropped to {size} × {size} px, the input size of {native}"
        pred = ""
        names = self.class_names
        if acts.logits is not None and names and len(names) == acts.logits.numel():
            p = acts.logits.softmax(0)
            top = p.topk(min(3, p.numel()))
            pred = "; the model's guess: " + ", ".join(
                f"{_html.escape(names[i])} {v * 100:.0f}%" for v, i in zip(top.values.tolist(), top.indices.tolist())
            )
        if "input" not in acts.memo:
            acts.memo["input"] = img(acts.image, width=112, max_px=112, title="model input")
        return (
            f'<div style="display:flex;gap:12px;align-items:flex-start"><div>{acts.memo["input"]}</div>'
            f'<div style="font-size:12px;color:#333;max-width:520px">{note}{pred}.</div></div>'
        )

    def _render_filters(self, acts: Activations, show: str) -> str:
        weight = self._conv.weight.detach().float().cpu().numpy()  # C_out x 3 x k x k
        response = np.clip(acts.channel_mean[self._conv_name].numpy(), 0, None)
        if show == "top":
            order = np.argsort(-response, kind="stable").tolist()
            note = "sorted by how strongly each responds to this photo (mean of its positive output)"
        else:
            order = list(range(weight.shape[0]))
            note = "in index order"
        k = weight.shape[-1]
        tiles = []
        for i in order[:64]:
            if i not in self._filter_tiles:  # the filters do not depend on the image: draw each once
                f = weight[i] / (np.abs(weight[i]).max() + 1e-12)
                rgb = ((f.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
                self._filter_tiles[i] = (
                    f'<figure style="margin:0;text-align:center">{img(rgb, width=40, max_px=16, title=f"filter {i}")}'
                    f'<figcaption style="font-size:10px;color:#555">{i}</figcaption></figure>'
                )
            tiles.append(self._filter_tiles[i])
        text = (
            f"<p style='{_NOTE}'>The {weight.shape[0]} filters of the first convolution "
            f"(<code>{_html.escape(self._conv_name)}</code>, {k} × {k} × 3), shown as RGB colour patches, {note}. "
            "Grey is zero weight; a coloured patch matches image patches of that colour and pattern."
            + (" These filters are fixed, not learned (set from the data before training, e.g. patch whitening)."
               if not self._conv.weight.requires_grad else "") + "</p>"
        )
        return text + grid(tiles, 16)

    def _tile(self, maps: np.ndarray, peaks: np.ndarray, j: int, cmap: str) -> str:
        return tile(maps[j], f"ch {j} · max {peaks[j]:.2g}", cmap, width=self.tile_width, max_px=self.tile_px)

    def _render_maps(self, acts: Activations, spec: LayerSpec, show: str, start: int, cmap: str) -> str:
        c, hh, ww = acts.maps[spec.module].shape
        if spec.branches:
            return self._render_branches(acts, spec, show, start, cmap)
        idx, what = pick(acts.channel_mean[spec.module], show, start, self.channels)
        maps, peaks = acts.display[spec.module], acts.channel_max[spec.module]
        text = (
            f"<p style='{_NOTE}'><b>{_html.escape(spec.label)}</b>: {c} maps of {hh} × {ww} "
            f"(one pixel per {self.input_size / hh:.3g} input pixels); {what}. Each map is scaled to its own range. "
            f"{colourbar(cmap)}</p>"
        )
        return text + grid([self._tile(maps, peaks, j, cmap) for j in idx], 8)

    def _render_branches(self, acts: Activations, spec: LayerSpec, show: str, start: int, cmap: str) -> str:
        c, hh, ww = acts.maps[spec.module].shape
        per = max(1, self.channels // 4)
        total = sum(acts.positive_sum[b] for b, _, _ in spec.branches) or 1.0
        columns = []
        for i, (bname, desc, _) in enumerate(spec.branches):
            maps, peaks = acts.display[bname], acts.channel_max[bname]
            idx, _ = pick(acts.channel_mean[bname], show, start, per)
            share = acts.positive_sum[bname] / total
            columns.append(
                f'<div style="border:1px solid #ddd;padding:4px;border-radius:4px">'
                f'<div style="font-size:12px"><b>branch {i + 1}</b>: {_html.escape(desc)}<br>'
                f"{maps.shape[0]} channels, {share * 100:.0f}% of the block's activation</div>"
                f"{grid([self._tile(maps, peaks, j, cmap) for j in idx], 2)}</div>"
            )
        mode = (f"the {per} most active channels of each branch" if show == "top"
                else f"{per} channels of each branch from channel {start}")
        text = (
            f"<p style='{_NOTE}'><b>{_html.escape(spec.label)}</b>: an Inception block, "
            f"{c} × {hh} × {ww}, the four branches side by side ({mode}); concatenated, they are the block's "
            f"output. Each map is scaled to its own range. {colourbar(cmap)}</p>"
        )
        return text + f'<div style="display:flex;gap:8px;flex-wrap:wrap">{"".join(columns)}</div>'

    # -- uploads -------------------------------------------------------------------------------
    def add_upload(self, data: bytes | bytearray | memoryview, name: str = "upload") -> str | None:
        """Use an uploaded file as the image "your upload" and show it.

        Args:
            data: the file's bytes.
            name: its file name (shown in the view).

        Returns:
            ``None`` if the file was read, otherwise the message shown in the view instead of the image.
        """
        self._upload_count += 1
        try:
            self.images[UPLOAD] = load_image(bytes(data))
            self.upload_message = None
            self._upload_name = name
        except ImageError as err:
            self.images.pop(UPLOAD, None)
            self.upload_message = f"{name}: {err}"
        self.forget(image=UPLOAD)  # views of the previous upload are stale
        if self._upload_status is not None:
            self._upload_status.value = _html.escape(self.upload_message or f"showing {name}")
        self.set(image=UPLOAD)
        return self.upload_message

    def _on_upload(self, change: dict) -> None:
        for name, content in _upload_items(change["new"]):
            self.add_upload(content, name)

    @property
    def widget(self) -> Any:
        """The ipywidgets view: the Explorer's controls and output, plus an upload button (live only)."""
        if self._widget is None:
            import ipywidgets as w

            box = Explorer.widget.fget(self)  # type: ignore[attr-defined]
            self.upload_widget = w.FileUpload(accept="image/*", multiple=False, description="Upload a photo")
            self.upload_widget.observe(self._on_upload, names="value")
            self._upload_status = w.HTML("")
            children = list(box.children)
            box.children = tuple(children[:-1] + [w.HBox([self.upload_widget, self._upload_status]), children[-1]])
        return self._widget


def _upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``(name, bytes)`` of every file in a FileUpload value: ipywidgets 7 (a dict) or 8 (a tuple of dicts)."""
    if isinstance(value, Mapping):  # ipywidgets 7: {name: {"metadata": {...}, "content": bytes}}
        return [(str(name), bytes(entry["content"])) for name, entry in value.items()]
    # ipywidgets 8: ({"name": ..., "content": memoryview, ...}, ...)
    return [(str(entry.get("name", "upload")), bytes(entry["content"])) for entry in value or ()]


def _image_name(source: Any, index: int) -> str:
    if isinstance(source, str):
        return Path(source).stem if Path(source).suffix else source
    return f"image {index + 1}"


def _describe_weights(weights: Any) -> str:
    if weights is None:
        return "Weights: not stated (pass weights= from cnnlib.pretrained.load_pretrained)."
    if isinstance(weights, str):
        return weights
    return str(getattr(weights, "description", weights))


def feature_map_explorer(
    model: nn.Module,
    images: Mapping[str, Any] | Sequence[Any] | None = None,
    *,
    weights: Any = None,
    input_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    layer: str | None = None,
    layers: Sequence[str] | None = None,
    filters: bool = True,
    channels: int = 16,
    cmap: str = "viridis",
    static_layers: Sequence[str] | None = None,
    static_images: Sequence[str] | None = None,
    tile_px: int = 64,
    tile_width: int = 84,
    title: str | None = "Feature maps",
) -> FeatureMapExplorer:
    """An interactive view of a model's feature maps for a few photos (and, live, the reader's own).

    Controls: ``image``; ``layer`` (the ``feature_info`` layers and every Inception block, plus "first-layer
    filters"); ``show`` (``"top"``: the most active channels, ``"index"``: channels by number); ``start`` (the
    first channel when showing by number); ``cmap`` (the colour map).

    Args:
        model: a cnnlib model with ``feature_info`` (e.g. from :func:`cnnlib.pretrained.load_pretrained`).
        images: photos by name (name -> anything :func:`cnnlib.images.load_image` reads), or a list of sources
            (scikit-image sample names, paths, arrays); default :data:`cnnlib.images.DEFAULT_IMAGES`.
        weights: the :class:`~cnnlib.pretrained.WeightsInfo` of the model (its sentence is shown in every view;
            its ``input_size``, ``mean``, ``std`` and ``classes`` are used), or a sentence.
        input_size: side of the square input; default the weights', else the model's ``pretrained_cfg``.
        mean, std: input normalisation; default the weights', else the model's ``pretrained_cfg``.
        layer: the layer shown first (a module name); default the first ``feature_info`` layer offered.
        layers: offer only these layers (module names from :func:`cnnlib.analysis.layer_specs`).
        filters: offer the first convolution's filters as a "layer".
        channels: maps per view (for Inception blocks, a quarter per branch); at least 1.
        cmap: initial colour map (one of ``viridis``, ``magma``, ``gray``, ``coolwarm``).
        static_layers: layers pre-rendered for the static book (default: the ``feature_info`` layers offered,
            and the filters).
        static_images: images pre-rendered for the static book (default: the first three).
        tile_px: largest side (px) at which a map is stored in the page (larger maps are averaged down).
        tile_width: displayed width (CSS px) of each map.
        title: heading of the explorer.

    Returns:
        The explorer; the last expression of a notebook cell displays it.

    Raises:
        ValueError: a model without ``feature_info``, an unknown layer or colour map, ``channels < 1``, no usable
            image, or no input size and normalisation (neither given, nor in the weights or the model).
    """
    return FeatureMapExplorer(
        model, images, weights=weights, input_size=input_size, mean=mean, std=std, layer=layer, layers=layers,
        filters=filters, channels=channels, cmap=cmap, static_layers=static_layers, static_images=static_images,
        tile_px=tile_px, tile_width=tile_width, title=title,
    )
