"""Trains edgewave's activity model and exports it to ONNX.

A GRU cell that steps once per feature window of a sensor, carrying its hidden state from window to
window, and a softmax over the simulator's activities. Training is truncated backpropagation
through time on each simulated sensor's window sequence, written out in numpy (no framework), so
the script needs only numpy and onnx (pinned by scripts/train-model.sh) and gives the same model
for the same data and seed.

The exported graph is the processor's model contract:
  inputs   features [batch, F] float32 (the uplink layout, raw values)  state [batch, H] float32
  outputs  scores   [batch, C] float32 (probabilities)                   next_state [batch, H]
It normalises the features itself (mean and spread of the training set), so callers feed what the
kernels produce. It is built from MatMul, Add, Mul, Sub, Div, Sigmoid, Tanh and Softmax only, which
every onnxruntime backend runs.

Usage: python train.py --train train.bin --val val.bin --out activity-gru.onnx [--hidden 24]
"""

import argparse
import json
import struct
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def load(path):
    raw = open(path, "rb").read()
    if raw[:8] != b"EWDS0001":
        sys.exit(f"{path}: not an edgewave window set (magic {raw[:8]!r})")
    (n,) = struct.unpack_from("<I", raw, 8)
    header = json.loads(raw[12 : 12 + n])
    at = 12 + n + (4 - (12 + n) % 4) % 4
    w, f = header["windows"], header["width"]
    x = np.frombuffer(raw, dtype="<f4", count=w * f, offset=at).reshape(w, f).astype(np.float64)
    y = np.frombuffer(raw, dtype=np.uint8, count=w, offset=at + 4 * w * f).astype(np.int64)
    return header, x, y


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


class Gru:
    """Parameters and one step, forward and backward, of the GRU cell and its output layer."""

    NAMES = ["Wxz", "Wxr", "Wxn", "Whz", "Whr", "Whn", "bxz", "bxr", "bxn", "bhz", "bhr", "bhn", "Wo", "bo"]

    def __init__(self, f, h, c, rng):
        s = 1.0 / np.sqrt(h)
        p = {}
        for g in "zrn":
            p["Wx" + g] = rng.uniform(-s, s, (f, h))
            p["Wh" + g] = rng.uniform(-s, s, (h, h))
            p["bx" + g] = np.zeros(h)
            p["bh" + g] = np.zeros(h)
        p["Wo"] = rng.uniform(-s, s, (h, c))
        p["bo"] = np.zeros(c)
        self.p = p

    def step(self, x, h):
        p = self.p
        z = sigmoid(x @ p["Wxz"] + p["bxz"] + h @ p["Whz"] + p["bhz"])
        r = sigmoid(x @ p["Wxr"] + p["bxr"] + h @ p["Whr"] + p["bhr"])
        hn = h @ p["Whn"] + p["bhn"]
        n = np.tanh(x @ p["Wxn"] + p["bxn"] + r * hn)
        h2 = n + z * (h - n)
        logits = h2 @ p["Wo"] + p["bo"]
        logits = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        prob = e / e.sum(axis=1, keepdims=True)
        return h2, prob, (x, h, z, r, hn, n, h2)

    def back(self, cache, dprob_logits, dh2, g):
        """dprob_logits: gradient of the loss at the logits; dh2: from the next step. Accumulates into g."""
        p = self.p
        x, h, z, r, hn, n, h2 = cache
        g["Wo"] += h2.T @ dprob_logits
        g["bo"] += dprob_logits.sum(0)
        dh2 = dh2 + dprob_logits @ p["Wo"].T
        dn = dh2 * (1 - z)
        dz = dh2 * (h - n)
        dh = dh2 * z
        dan = dn * (1 - n * n)
        g["Wxn"] += x.T @ dan
        g["bxn"] += dan.sum(0)
        dr = dan * hn
        dhn = dan * r
        g["Whn"] += h.T @ dhn
        g["bhn"] += dhn.sum(0)
        dh += dhn @ p["Whn"].T
        for gate, act, d in (("r", r, dr), ("z", z, dz)):
            da = d * act * (1 - act)
            g["Wx" + gate] += x.T @ da
            g["bx" + gate] += da.sum(0)
            g["Wh" + gate] += h.T @ da
            g["bh" + gate] += da.sum(0)
            dh += da @ p["Wh" + gate].T
        return dh


def chunks(header, x, y, length):
    """Each sensor's windows as consecutive chunks of `length`, with where each chunk sits in its sequence."""
    out = []
    for s, seq in enumerate(header["sequences"]):
        for k in range(0, seq["length"] - length + 1, length):
            out.append((s, seq["start"] + k))
    return out


def evaluate(model, x, y, header, mean, std):
    """Runs every sensor's windows in order, the state carried along, as the processor does."""
    seqs = header["sequences"]
    longest = max(s["length"] for s in seqs)
    h = np.zeros((len(seqs), model.p["Whz"].shape[0]))
    pred = np.full(len(y), -1)
    xs = (x - mean) / std
    for t in range(longest):
        live = [i for i, s in enumerate(seqs) if t < s["length"]]
        rows = [seqs[i]["start"] + t for i in live]
        h2, prob, _ = model.step(xs[rows], h[live])
        h[live] = h2
        pred[rows] = prob.argmax(1)
    return pred


def report(pred, y, classes):
    acc = float((pred == y).mean())
    per = {c: (float((pred[y == i] == i).mean()) if (y == i).any() else None) for i, c in enumerate(classes)}
    confusion = [[int(((y == i) & (pred == j)).sum()) for j in range(len(classes))] for i in range(len(classes))]
    return acc, per, confusion


def export(model, mean, std, header, path, metadata):
    p = model.p
    f, h = p["Wxz"].shape
    c = p["Wo"].shape[1]
    init = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), name) for name, v in p.items()]
    init += [numpy_helper.from_array(mean.astype(np.float32), "mean"), numpy_helper.from_array(std.astype(np.float32), "std")]
    N = helper.make_node
    nodes = [
        N("Sub", ["features", "mean"], ["centred"]),
        N("Div", ["centred", "std"], ["x"]),
    ]
    for g in "zrn":
        nodes += [N("MatMul", ["x", "Wx" + g], ["xw" + g]), N("Add", ["xw" + g, "bx" + g], ["xa" + g])]
        nodes += [N("MatMul", ["state", "Wh" + g], ["hw" + g]), N("Add", ["hw" + g, "bh" + g], ["ha" + g])]
    nodes += [
        N("Add", ["xaz", "haz"], ["az"]), N("Sigmoid", ["az"], ["z"]),
        N("Add", ["xar", "har"], ["ar"]), N("Sigmoid", ["ar"], ["r"]),
        N("Mul", ["r", "han"], ["rhn"]), N("Add", ["xan", "rhn"], ["an"]), N("Tanh", ["an"], ["n"]),
        N("Sub", ["state", "n"], ["hmn"]), N("Mul", ["z", "hmn"], ["zhmn"]), N("Add", ["n", "zhmn"], ["next_state"]),
        N("MatMul", ["next_state", "Wo"], ["lw"]), N("Add", ["lw", "bo"], ["logits"]),
        N("Softmax", ["logits"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "edgewave_activity_gru",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", f]), helper.make_tensor_value_info("state", TensorProto.FLOAT, ["batch", h])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", c]), helper.make_tensor_value_info("next_state", TensorProto.FLOAT, ["batch", h])],
        init,
    )
    m = helper.make_model(graph, producer_name="edgewave cloud/model/train.py", opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    for k, v in metadata.items():
        entry = m.metadata_props.add()
        entry.key = k
        entry.value = v if isinstance(v, str) else json.dumps(v)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True, help="held-out windows, reported and stored in the model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--chunk", type=int, default=24, help="windows per truncated-BPTT chunk")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.004)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    header, x, y = load(a.train)
    vheader, vx, vy = load(a.val)
    if vheader["layout"]["id"] != header["layout"]["id"]:
        sys.exit("train and val sets have different feature layouts")
    classes = header["classes"]
    mean = x.mean(0)
    std = x.std(0) + 1e-6
    xs = (x - mean) / std
    # Rare classes (falls) weigh more: inverse frequency, square-rooted.
    freq = np.bincount(y, minlength=len(classes)) / len(y)
    weight = 1.0 / np.sqrt(np.maximum(freq, 1e-4))
    weight = weight / (weight * freq).sum()
    model = Gru(x.shape[1], a.hidden, len(classes), rng)
    adam = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in model.p.items()}
    items = chunks(header, xs, y, a.chunk)
    step_no = 0
    t0 = time.time()
    for epoch in range(a.epochs):
        order = rng.permutation(len(items))
        total = 0.0
        for b in range(0, len(order), a.batch):
            sel = [items[i] for i in order[b : b + a.batch]]
            # A chunk that starts a sequence starts from zeros, as a new sensor does; others from a
            # state run up over the windows just before (a burn-in that is not trained).
            h = np.zeros((len(sel), a.hidden))
            burn = [max(start - a.chunk, header["sequences"][s]["start"]) for s, start in sel]
            for k in range(a.chunk):
                rows = [bs + k for bs in burn]
                ok = np.array([bs + k < start for (s, start), bs in zip(sel, burn)])
                if ok.any():
                    h2, _, _ = model.step(xs[rows], h)
                    h = np.where(ok[:, None], h2, h)
            caches, grads_in = [], []
            g = {k: np.zeros_like(v) for k, v in model.p.items()}
            norm = len(sel) * a.chunk
            for k in range(a.chunk):
                rows = [start + k for _, start in sel]
                h, prob, cache = model.step(xs[rows], h)
                yy = y[rows]
                w = weight[yy]
                total += float(-(w * np.log(prob[np.arange(len(yy)), yy] + 1e-12)).sum())
                d = prob.copy()
                d[np.arange(len(yy)), yy] -= 1
                caches.append(cache)
                grads_in.append(d * w[:, None] / norm)
            dh = np.zeros_like(h)
            for k in reversed(range(a.chunk)):
                dh = model.back(caches[k], grads_in[k], dh, g)
            gn = np.sqrt(sum((v * v).sum() for v in g.values()))
            scale = min(1.0, 5.0 / (gn + 1e-12))
            step_no += 1
            lr = a.lr * (0.5 ** (epoch / 15))
            for k, v in model.p.items():
                m1, m2 = adam[k]
                gk = g[k] * scale
                m1 *= 0.9
                m1 += 0.1 * gk
                m2 *= 0.999
                m2 += 0.001 * gk * gk
                v -= lr * (m1 / (1 - 0.9**step_no)) / (np.sqrt(m2 / (1 - 0.999**step_no)) + 1e-8)
        if epoch % 5 == 4 or epoch == a.epochs - 1:
            acc, per, _ = report(evaluate(model, vx, vy, vheader, mean, std), vy, classes)
            print(f"epoch {epoch + 1}/{a.epochs}: loss {total / (len(items) * a.chunk):.4f}, held-out accuracy {acc:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    acc, per, confusion = report(evaluate(model, vx, vy, vheader, mean, std), vy, classes)
    metadata = {
        "edgewave.layout_id": str(header["layout"]["id"]),
        "edgewave.features": header["layout"]["names"],
        "edgewave.classes": classes,
        "edgewave.window": str(header["layout"]["window"]),
        "edgewave.hop": str(header["layout"]["hop"]),
        "edgewave.sample_rate": str(header["layout"]["sampleRate"]),
        "edgewave.heldout_accuracy": f"{acc:.4f}",
        "edgewave.heldout_recall": per,
        "edgewave.heldout_confusion": confusion,
        "edgewave.training": {"hidden": a.hidden, "epochs": a.epochs, "chunk": a.chunk, "batch": a.batch, "lr": a.lr, "seed": a.seed, "train_windows": int(len(y)), "heldout_windows": int(len(vy))},
    }
    export(model, mean, std, header, a.out, metadata)
    print(json.dumps({"out": a.out, "heldout_accuracy": round(acc, 4), "recall": per, "confusion": confusion}), file=sys.stderr)


if __name__ == "__main__":
    main()
