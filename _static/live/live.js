/* Stacks & Branches: the live view. The book's trained networks (vgg_cifar, googlenet_cifar) run in the reader's
 * browser with onnxruntime-web (WebAssembly), on a sample photo or the reader's own image; nothing is uploaded.
 *
 * Jupyter Book adds this file to every page; it does nothing on a page without a `.sb-live` element (written by
 * cnnlib/web/live.py). The runtime (_static/ort/, ~15 MB) and a network (_static/live/<name>.onnx, 3-4 MB) are
 * fetched only when the reader presses Start (or picks the other network). An image is prepared as
 * cnnlib.images.to_model_input does: the shorter side resized to 32 px with PyTorch's antialiased bilinear filter
 * (torch.nn.functional.interpolate(..., antialias=True)), the central square, normalised by the weights' mean and
 * std. Checked by tests/browser/test_live_view.py against PyTorch.
 */
(function () {
  "use strict";

  const SCRIPT = document.currentScript;
  const STATIC = SCRIPT ? new URL("../", SCRIPT.src).href : "";  // .../_static/
  const MAX_BYTES = 50 * 1024 * 1024;  // larger files are refused before they are read
  const MAX_PIXELS = 120000000;        // as cnnlib.images.MAX_PIXELS
  const MAX_SIDE = 1024;               // as cnnlib.images.MAX_SIDE: bigger photos are shrunk first
  const TOP = 16;                      // maps in the grid, most active first
  const BIG = 160;                     // CSS px of the large views

  class ReaderError extends Error {}   // a message for the reader (bad input), not a bug

  // ------------------------------------------------------------------------------------------- runtime, models
  let ortPromise = null;
  function loadRuntime() {
    if (!ortPromise) {
      ortPromise = new Promise((resolve, reject) => {
        if (typeof WebAssembly !== "object") {
          reject(new ReaderError("this browser has no WebAssembly, which the live view needs"));
          return;
        }
        const s = document.createElement("script");
        s.src = STATIC + "ort/ort.wasm.min.js";
        s.onload = () => {
          const ort = window.ort;
          ort.env.wasm.wasmPaths = STATIC + "ort/";
          ort.env.wasm.numThreads = 1;  // threads need a cross-origin-isolated page; one is fast enough at 32 px
          ort.env.wasm.proxy = false;
          ort.env.logLevel = "error";
          resolve(ort);
        };
        s.onerror = () => reject(new ReaderError("could not load the runtime from " + s.src));
        document.head.appendChild(s);
      });
      ortPromise.catch(() => { ortPromise = null; });
    }
    return ortPromise;
  }

  async function fetchOk(url, kind) {
    let r;
    try {
      r = await fetch(url);
    } catch (err) {
      const hint = location.protocol === "file:" ?
        " (pages opened from disk cannot fetch files: serve the book, e.g. python -m http.server -d _build/html)" : "";
      throw new ReaderError("could not fetch " + url.split("/").pop() + hint);
    }
    if (!r.ok) throw new ReaderError("could not fetch " + url.split("/").pop() + " (" + r.status + ")");
    return kind === "json" ? r.json() : r.arrayBuffer();
  }

  const sessions = {};
  function loadModel(name) {
    if (!sessions[name]) {
      sessions[name] = (async () => {
        const ort = await loadRuntime();
        const [meta, bytes] = await Promise.all([
          fetchOk(STATIC + "live/" + name + ".json", "json"), fetchOk(STATIC + "live/" + name + ".onnx")]);
        const session = await ort.InferenceSession.create(bytes, {executionProviders: ["wasm"]});
        return {ort, meta, session};
      })();
      sessions[name].catch(() => { delete sessions[name]; });
    }
    return sessions[name];
  }

  // ------------------------------------------------------------------------------------------- images
  function isPNG(b) { return b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47; }

  // A file (or blob) -> {pixels: Float32Array H*W*3 in [0, 1], width, height, note}
  async function readImage(blob) {
    if (blob.size === 0) throw new ReaderError("the file is empty");
    if (blob.size > MAX_BYTES) {
      throw new ReaderError("the file is " + (blob.size / 1048576).toFixed(0) + " MB; the live view reads images up to 50 MB");
    }
    const head = new Uint8Array(await blob.slice(0, 32).arrayBuffer());
    let note = "";
    if (isPNG(head)) {  // its size is in the header: refuse a huge image before decoding it
      const dv = new DataView(head.buffer), pw = dv.getUint32(16), ph = dv.getUint32(20);
      if (pw * ph > MAX_PIXELS) throw new ReaderError("the image is too large to open (" + pw + " x " + ph + " pixels)");
      if (head[24] === 16) note = "a 16-bit PNG: read at 8 bits per channel";
    }
    const url = URL.createObjectURL(blob);
    const img = new Image();
    try {
      img.src = url;
      await img.decode();
    } catch (err) {
      URL.revokeObjectURL(url);
      throw new ReaderError("this file is not an image your browser can read (try a JPEG or PNG photo)");
    }
    URL.revokeObjectURL(url);
    let w = img.naturalWidth, h = img.naturalHeight;
    if (!w || !h) throw new ReaderError("this image has no pixels");
    if (w * h > MAX_PIXELS) throw new ReaderError("the image is too large to open (" + w + " x " + h + " pixels)");
    const opts = {premultiplyAlpha: "none", colorSpaceConversion: "none"};
    if (Math.max(w, h) > MAX_SIDE) {  // as cnnlib.images.load_image: scale the longer side down to 1024 first
      const s = MAX_SIDE / Math.max(w, h);
      w = Math.max(1, Math.round(w * s));
      h = Math.max(1, Math.round(h * s));
      Object.assign(opts, {resizeWidth: w, resizeHeight: h, resizeQuality: "high"});
    }
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob, opts);
    } catch (err) {
      throw new ReaderError("your browser could not decode this image (" + err.message + ")");
    }
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d", {willReadFrequently: true});
    ctx.drawImage(bitmap, 0, 0);
    if (bitmap.close) bitmap.close();
    const rgba = ctx.getImageData(0, 0, w, h).data;
    const pixels = new Float32Array(w * h * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      const a = rgba[i + 3] / 255;  // transparency composited onto white, as cnnlib does
      for (let c = 0; c < 3; c++) pixels[j + c] = Math.round(rgba[i + c] * a + 255 * (1 - a)) / 255;
    }
    return {pixels, width: w, height: h, note};
  }

  // PyTorch's antialiased bilinear weights (aten/src/ATen/native/cpu/UpSampleKernel.cpp, align_corners=False).
  function aaWeights(inSize, outSize) {
    const scale = inSize / outSize;
    const support = scale >= 1 ? scale : 1;
    const invscale = scale >= 1 ? 1 / scale : 1;
    const out = [];
    for (let i = 0; i < outSize; i++) {
      const center = scale * (i + 0.5);
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
      const ws = [];
      let total = 0;
      for (let j = xmin; j < xmax; j++) {
        const x = Math.abs((j - center + 0.5) * invscale);
        const w = x < 1 ? 1 - x : 0;
        ws.push(w);
        total += w;
      }
      out.push({xmin, ws: ws.map((w) => (total ? w / total : 0))});
    }
    return out;
  }

  function roundHalfEven(x) {  // Python's round(), which torchvision's center_crop uses
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  // HWC pixels -> {input: Float32Array 3*S*S (normalised, CHW), crop: Uint8ClampedArray S*S*4 (for display)}
  function toModelInput(img, size, mean, std) {
    const {pixels, width: W, height: H} = img;
    let nw, nh;  // torchvision's Resize(size): the shorter side becomes `size`
    if (W <= H) { nw = size; nh = Math.trunc(size * H / W); } else { nh = size; nw = Math.trunc(size * W / H); }
    const wx = aaWeights(W, nw), wy = aaWeights(H, nh);
    const tmp = new Float32Array(H * nw * 3);  // horizontal pass
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < nw; x++) {
        const {xmin, ws} = wx[x];
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let k = 0; k < ws.length; k++) acc += ws[k] * pixels[(y * W + xmin + k) * 3 + c];
          tmp[(y * nw + x) * 3 + c] = acc;
        }
      }
    }
    const top = roundHalfEven((nh - size) / 2), left = roundHalfEven((nw - size) / 2);
    const input = new Float32Array(3 * size * size);
    const crop = new Uint8ClampedArray(size * size * 4);
    for (let y = 0; y < size; y++) {
      const {xmin, ws} = wy[y + top];
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          let acc = 0;
          for (let k = 0; k < ws.length; k++) acc += ws[k] * tmp[((xmin + k) * nw + x + left) * 3 + c];
          input[c * size * size + y * size + x] = (acc - mean[c]) / std[c];
          crop[(y * size + x) * 4 + c] = Math.round(Math.min(1, Math.max(0, acc)) * 255);
        }
        crop[(y * size + x) * 4 + 3] = 255;
      }
    }
    return {input, crop};
  }

  // ------------------------------------------------------------------------------------------- drawing
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
    }
    for (const c of children) if (c) e.append(c);
    return e;
  }

  // One channel (h*w floats) -> a canvas of h x w pixels through the colour map, scaled to its own range.
  function mapCanvas(data, offset, h, w, lut, lo, hi) {
    const c = el("canvas", {width: w, height: h});
    const ctx = c.getContext("2d");
    const im = ctx.createImageData(w, h);
    if (lo === undefined) {
      lo = Infinity; hi = -Infinity;
      for (let i = 0; i < h * w; i++) { const v = data[offset + i]; if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < h * w; i++) {
      const k = Math.max(0, Math.min(255, Math.round((data[offset + i] - lo) / span * 255)));
      im.data[i * 4] = lut[k * 3]; im.data[i * 4 + 1] = lut[k * 3 + 1]; im.data[i * 4 + 2] = lut[k * 3 + 2];
      im.data[i * 4 + 3] = 255;
    }
    ctx.putImageData(im, 0, 0);
    return c;
  }

  function channelMeans(t) {
    const [, C, h, w] = t.dims, n = h * w, d = t.data, m = new Float64Array(C);
    for (let c = 0; c < C; c++) { let s = 0; for (let i = 0; i < n; i++) s += d[c * n + i]; m[c] = s / n; }
    return m;
  }

  function byActivity(means) {
    return Array.from(means.keys()).sort((a, b) => means[b] - means[a]);
  }

  // The class activation map (k, h x w) bilinearly upsampled to S x S (align_corners=False) over the crop.
  function camCanvas(cam, k, crop, size, lut) {
    const [, , h, w] = cam.dims, d = cam.data, off = k * h * w;
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < h * w; i++) { lo = Math.min(lo, d[off + i]); hi = Math.max(hi, d[off + i]); }
    const span = hi > lo ? hi - lo : 1;
    const c = el("canvas", {width: size, height: size});
    const ctx = c.getContext("2d");
    const im = ctx.createImageData(size, size);
    const at = (y, x) => d[off + Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
    for (let y = 0; y < size; y++) {
      const fy = (y + 0.5) * h / size - 0.5, y0 = Math.floor(fy), ay = fy - y0;
      for (let x = 0; x < size; x++) {
        const fx = (x + 0.5) * w / size - 0.5, x0 = Math.floor(fx), ax = fx - x0;
        const v = (1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) + ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1));
        const t = (v - lo) / span, k3 = Math.round(t * 255) * 3, a = 0.25 + 0.5 * t, i = (y * size + x) * 4;
        for (let ch = 0; ch < 3; ch++) im.data[i + ch] = (1 - a) * crop[i + ch] + a * lut[k3 + ch];
        im.data[i + 3] = 255;
      }
    }
    ctx.putImageData(im, 0, 0);
    return c;
  }

  function cropCanvas(crop, size) {
    const c = el("canvas", {width: size, height: size});
    c.getContext("2d").putImageData(new ImageData(crop, size, size), 0, 0);
    return c;
  }

  // ------------------------------------------------------------------------------------------- the view
  class LiveView {
    constructor(root, config) {
      this.root = root;
      this.config = config;
      this.model = config.models[0].name;
      this.layer = null;       // module name
      this.channel = null;     // channel index of the big map
      this.camClass = null;    // null: follow the prediction
      this.image = null;       // the decoded image (readImage)
      this.imageLabel = "";
      this.result = null;      // {outputs, crop, meta, ms}
      this.timings = {};
      this.build();
    }

    build() {
      const cfg = this.config;
      const id = "sb-live-" + Math.random().toString(36).slice(2, 8);
      this.netSelect = el("select", {id: id + "-net", "aria-label": "network"});
      for (const m of cfg.models) this.netSelect.append(el("option", {value: m.name, text: m.label}));
      this.layerSelect = el("select", {id: id + "-layer", "aria-label": "layer"});
      this.channelSelect = el("select", {id: id + "-ch", "aria-label": "channel"});
      this.camSelect = el("select", {id: id + "-cam", "aria-label": "class of the activation map"});
      this.file = el("input", {type: "file", accept: "image/*", id: id + "-file", class: "sb-live-file"});
      const samples = el("div", {class: "sb-live-samples", role: "group", "aria-label": "sample photos"});
      cfg.samples.forEach((s, i) => {
        const b = el("button", {type: "button", class: "sb-live-sample", title: s.label, "data-index": String(i)},
          el("img", {src: s.src, alt: s.label}));
        b.addEventListener("click", () => this.pickSample(i));
        samples.append(b);
      });
      const upload = el("label", {class: "sb-live-upload", for: id + "-file"}, "Your own image: ");
      upload.append(this.file);
      this.inputBox = el("div", {class: "sb-live-input"});
      this.probs = el("ol", {class: "sb-live-probs", "aria-label": "class probabilities"});
      this.big = el("div", {class: "sb-live-big"});
      this.grid = el("div", {class: "sb-live-grid"});
      this.branches = el("div", {class: "sb-live-branches"});
      this.cam = el("div", {class: "sb-live-cam"});
      this.msg = el("p", {class: "sb-live-msg", role: "status"});
      this.status = el("p", {class: "sb-live-status"});
      const row = (label, control) => el("label", {class: "sb-live-control"}, label + " ", control);
      this.ui = el("div", {class: "sb-live-ui"},
        el("div", {class: "sb-live-controls"}, row("network", this.netSelect), row("layer", this.layerSelect),
           row("channel", this.channelSelect)),
        el("div", {class: "sb-live-pick"}, samples, upload),
        this.msg,
        el("div", {class: "sb-live-main"},
          el("figure", {class: "sb-live-fig"}, this.inputBox, el("figcaption", {text: "what the network sees"})),
          el("figure", {class: "sb-live-fig"}, this.probs, el("figcaption", {text: "class probabilities"})),
          el("figure", {class: "sb-live-fig"}, this.big, el("figcaption", {class: "sb-live-bigcap"}))),
        el("h4", {text: "The layer's maps, most active first"}), this.grid,
        el("h4", {text: "An Inception module's four branches"}), this.branches,
        el("h4", {}, "Class activation map ", row("for", this.camSelect)), this.cam,
        this.status);
      this.netSelect.addEventListener("change", () => this.timed("network", () => this.setModel(this.netSelect.value)));
      this.layerSelect.addEventListener("change", () => this.timed("layer", () => { this.layer = this.layerSelect.value; this.channel = null; this.draw(); }));
      this.channelSelect.addEventListener("change", () => this.timed("channel", () => { this.channel = +this.channelSelect.value; this.draw(); }));
      this.camSelect.addEventListener("change", () => this.timed("cam", () => { this.camClass = this.camSelect.value === "" ? null : +this.camSelect.value; this.draw(); }));
      this.file.addEventListener("change", () => {
        const f = this.file.files && this.file.files[0];
        if (f) this.timed("upload", () => this.useBlob(f, f.name));
      });
      this.root.querySelector(".sb-live-start").after(this.ui);
    }

    async timed(what, fn) {
      const t0 = performance.now();
      try {
        await fn();
        this.timings[what] = performance.now() - t0;
        this.root.dataset.lastControl = what;
        this.root.dataset.lastMs = this.timings[what].toFixed(1);
      } catch (err) {
        this.fail(err);
      }
    }

    say(text, isError) {
      this.msg.textContent = text || "";
      this.msg.classList.toggle("sb-live-error", !!isError);
    }

    fail(err) {
      const reader = err instanceof ReaderError;
      this.say((reader ? "" : "Something went wrong: ") + (err && err.message ? err.message : String(err)), true);
      this.root.dataset.error = err && err.message ? err.message : String(err);
      if (!this.result) this.root.dataset.state = "error";
    }

    async start() {
      this.root.dataset.state = "loading";
      const t0 = performance.now();
      this.say("Loading the runtime and " + this.config.models[0].label + "…");
      await this.setModel(this.model);
      this.timings.load = performance.now() - t0;
      await this.pickSample(0);
    }

    async setModel(name) {
      this.model = name;
      this.netSelect.value = name;
      const t0 = performance.now();
      const m = this.config.models.find((x) => x.name === name);
      if (!sessions[name]) this.say("Loading " + m.label + " (" + (m.bytes / 1e6).toFixed(1) + " MB)…");
      this.root.dataset.state = "loading";
      const {meta} = await loadModel(name);
      this.timings.model = performance.now() - t0;
      this.meta = meta;
      this.layerSelect.replaceChildren(...meta.layers.map((l) => el("option", {
        value: l.module, text: l.label + " · " + l.channels + " ch" + (l.branches.length ? " · 4 branches" : "")})));
      const names = meta.layers.map((l) => l.module);
      if (!names.includes(this.layer)) this.layer = names[Math.min(1, names.length - 1)];
      this.layerSelect.value = this.layer;
      this.channel = null;
      this.camSelect.replaceChildren(el("option", {value: "", text: "the top class"}),
        ...meta.classes.map((c, i) => el("option", {value: String(i), text: c})));
      this.camSelect.value = this.camClass === null ? "" : String(this.camClass);
      this.camSelect.disabled = !meta.cam;
      this.say("");
      if (this.image) await this.run();
    }

    async pickSample(i) {
      const s = this.config.samples[i];
      const blob = await (await fetch(s.src)).blob();
      await this.useBlob(blob, s.label);
    }

    async useBlob(blob, label) {
      // A new file: the last one's error no longer applies (cleared before the first await, so that a script
      // waiting on data-error sees this file's outcome, not the last one's).
      delete this.root.dataset.error;
      this.say("");
      let img;
      try {
        img = await readImage(blob);
      } catch (err) {
        this.fail(err);  // the previous image and its maps stay
        return;
      }
      this.image = img;
      this.imageLabel = label;
      this.say(img.note ? label + ": " + img.note + "." : "");
      await this.run();
    }

    async run() {
      const {ort, meta, session} = await loadModel(this.model);
      const size = meta.input_size;
      const t0 = performance.now();
      const {input, crop} = toModelInput(this.image, size, meta.mean, meta.std);
      const t1 = performance.now();
      const outputs = await session.run({input: new ort.Tensor("float32", input, [1, 3, size, size])});
      const t2 = performance.now();
      this.result = {outputs, crop, meta, prepMs: t1 - t0, runMs: t2 - t1};
      if (this.timings.first === undefined) this.timings.first = t2 - t0;
      this.draw();
      const probs = Array.from(outputs.probs.data);
      const top = probs.indexOf(Math.max(...probs));
      Object.assign(this.root.dataset, {
        state: "ready", model: this.model, image: this.imageLabel, top: meta.classes[top],
        probs: JSON.stringify(probs), runMs: (t2 - t1).toFixed(1), prepMs: (t1 - t0).toFixed(1),
        firstMs: this.timings.first.toFixed(1), loadMs: (this.timings.load || 0).toFixed(1)});
      delete this.root.dataset.error;
    }

    draw() {
      const r = this.result;
      if (!r) return;
      const {outputs, crop, meta} = r, size = meta.input_size, cfg = this.config;
      // the input and the probabilities
      this.inputBox.replaceChildren(cropCanvas(crop, size));
      const probs = Array.from(outputs.probs.data);
      const order = byActivity(probs);
      this.probs.replaceChildren(...order.map((k, rank) => el("li", {class: rank === 0 ? "sb-live-top" : ""},
        el("span", {class: "sb-live-cls", text: meta.classes[k]}),
        el("span", {class: "sb-live-bar", style: "width:" + (probs[k] * 100).toFixed(1) + "%"}),
        el("span", {class: "sb-live-pct", text: (probs[k] * 100).toFixed(1) + "%"}))));
      // the layer's maps, most active first
      const t = outputs[this.layer];
      const [, C, h, w] = t.dims;
      const means = channelMeans(t);
      const ranked = byActivity(means);
      if (this.channel === null || this.channel >= C) this.channel = ranked[0];
      this.channelSelect.replaceChildren(...ranked.map((c, i) => el("option", {
        value: String(c), text: "#" + (i + 1) + ": channel " + c + " (mean " + means[c].toFixed(2) + ")"})));
      this.channelSelect.value = String(this.channel);
      const n = h * w;
      this.big.replaceChildren(mapCanvas(t.data, this.channel * n, h, w, cfg.maps_lut));
      this.root.querySelector(".sb-live-bigcap").textContent =
        "channel " + this.channel + " of " + this.layer + ", " + h + " × " + w;
      this.grid.replaceChildren(...ranked.slice(0, TOP).map((c) => {
        const b = el("button", {type: "button", class: "sb-live-tile" + (c === this.channel ? " sb-live-on" : ""),
          title: "channel " + c + ", mean " + means[c].toFixed(3), "data-channel": String(c)},
          mapCanvas(t.data, c * n, h, w, cfg.maps_lut), el("span", {text: String(c)}));
        b.addEventListener("click", () => this.timed("tile", () => { this.channel = c; this.draw(); }));
        return b;
      }));
      // the four branches of an Inception module
      const layer = meta.layers.find((l) => l.module === this.layer);
      if (layer && layer.branches.length) {
        const sums = layer.branches.map((b) => {
          const m = channelMeans(outputs[b.module]);
          return m.reduce((s, v) => s + Math.max(v, 0), 0);
        });
        const total = sums.reduce((a, b) => a + b, 0) || 1;
        this.branches.replaceChildren(...layer.branches.map((b, i) => {
          const bt = outputs[b.module], [, , bh, bw] = bt.dims, bm = channelMeans(bt);
          return el("div", {class: "sb-live-branch"},
            el("p", {text: b.desc + " · " + b.channels + " ch · " + (100 * sums[i] / total).toFixed(0) + "%"}),
            ...byActivity(bm).slice(0, 4).map((c) => mapCanvas(bt.data, c * bh * bw, bh, bw, cfg.maps_lut)));
        }));
      } else {
        this.branches.replaceChildren(el("p", {class: "sb-live-note", text:
          "Pick an Inception module of GoogLeNet (inception3a … inception5b) in “layer” to see its branches: " +
          "the 1×1, the 3×3, the 5×5 and the pooling branch, side by side, with each branch's share of the activation."}));
      }
      // the class activation map
      if (outputs.cam) {
        const k = this.camClass === null ? order[0] : this.camClass;
        const big = 128;
        const up = upscale(crop, size, big);
        this.cam.replaceChildren(el("figure", {class: "sb-live-fig"}, cropCanvas(up, big),
          el("figcaption", {text: "the input"})),
          el("figure", {class: "sb-live-fig"}, camCanvas(outputs.cam, k, up, big, cfg.cam_lut),
            el("figcaption", {text: "where “" + meta.classes[k] + "” is seen, " + outputs.cam.dims[2] + " × " + outputs.cam.dims[3]})));
      } else {
        this.cam.replaceChildren(el("p", {class: "sb-live-note", text:
          "This network's head (a max-pool and a linear layer) has no class activation map; GoogLeNet's global " +
          "average pooling has one: pick GoogLeNet in “network”."}));
      }
      this.status.textContent = this.model + " on " + this.imageLabel + ": " + r.prepMs.toFixed(0) +
        " ms to prepare, " + r.runMs.toFixed(0) + " ms to run, in this page.";
    }
  }

  // nearest-neighbour S x S RGBA -> B x B RGBA (for drawing the CAM over the crop)
  function upscale(crop, size, big) {
    const out = new Uint8ClampedArray(big * big * 4);
    for (let y = 0; y < big; y++) {
      const sy = Math.floor(y * size / big);
      for (let x = 0; x < big; x++) {
        const sx = Math.floor(x * size / big), i = (y * big + x) * 4, j = (sy * size + sx) * 4;
        out[i] = crop[j]; out[i + 1] = crop[j + 1]; out[i + 2] = crop[j + 2]; out[i + 3] = 255;
      }
    }
    return out;
  }

  function init(root) {
    if (root.dataset.live) return;
    root.dataset.live = "1";
    let config;
    try {
      config = JSON.parse(root.querySelector(".sb-live-config").textContent);
    } catch (err) {
      return;
    }
    const nojs = root.querySelector(".sb-live-nojs");
    const start = root.querySelector(".sb-live-start");
    if (typeof WebAssembly !== "object") {
      nojs.textContent = "This browser has no WebAssembly, which the live view needs; the pre-rendered views above remain.";
      return;
    }
    nojs.hidden = true;
    start.hidden = false;
    root.dataset.state = "idle";
    const go = start.querySelector(".sb-live-go");
    go.addEventListener("click", async () => {
      go.disabled = true;
      const view = root.liveView || (root.liveView = new LiveView(root, config));
      root.classList.add("sb-live-started");
      try {
        await view.start();
      } catch (err) {
        view.fail(err);
        go.disabled = false;
      }
    });
  }

  function initAll() { document.querySelectorAll(".sb-live").forEach(init); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initAll); else initAll();
})();
