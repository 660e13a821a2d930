#!/usr/bin/python3
"""Where a generative zoo's samples go, over all ten Fashion-MNIST classes (issue 16): the run's own feature
net (RUN/featurenet.h5, re-implemented here in numpy: conv3x3-relu-pool twice, fc-relu, fc) classifies the
first 16 stored samples of every model (/samples/<family>/images in zoo.h5), and, for comparison, 500 real
test images of each of the zoo's classes. zoo.h5's generated_share_k columns count only the mixture's
classes; this shows which classes the rest ("outside") is filed under.

    /usr/bin/python3 bench/sample_classes.py RUN [--family gan] [--data DIR]
"""
import argparse
import gzip

import h5py
import numpy as np

NAMES = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def load_net(path):
    g = h5py.File(path, "r")["featurenet"]
    layout, w = g["layout"], g["weights"][()]
    names, offsets, numels = layout["name"].asstr()[()], layout["offset"][()], layout["numel"][()]
    shape_offsets, shapes = layout["shape_offsets"][()], layout["shapes"][()]
    return {n: w[o:o + k].reshape(shapes[shape_offsets[i]:shape_offsets[i + 1]])
            for i, (n, o, k) in enumerate(zip(names, offsets, numels))}


def conv3x3(x, weight, bias):  # x [N, C, H, W], padding 1
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    taps = np.stack([padded[:, :, i:i + h, j:j + w] for i in range(3) for j in range(3)], axis=2)
    return np.einsum("nckhw,ock->nohw", taps, weight.reshape(weight.shape[0], c, 9)) + bias[None, :, None, None]


def pool2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def classify(net, images):
    h = images.reshape(-1, 1, 28, 28)
    h = pool2(np.maximum(conv3x3(h, net["conv1.weight"], net["conv1.bias"]), 0))
    h = pool2(np.maximum(conv3x3(h, net["conv2.weight"], net["conv2.bias"]), 0))
    h = np.maximum(h.reshape(len(h), -1) @ net["fc1.weight"].T + net["fc1.bias"], 0)
    return (h @ net["fc2.weight"].T + net["fc2.bias"]).argmax(1)


def idx(path, header):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def shares(classes):
    hist = np.bincount(classes, minlength=10) / len(classes)
    return ", ".join(f"{NAMES[k]} {v:.2f}" for k, v in sorted(enumerate(hist), key=lambda kv: -kv[1]) if v > 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--family", default="gan")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    net = load_net(args.run + "/featurenet.h5")
    zoo = h5py.File(args.run + "/zoo.h5", "r")
    classes = list(zoo["featurenet/selected_classes"][()]) if "featurenet" in zoo else []
    images, ids = zoo[f"samples/{args.family}/images"][()], zoo[f"samples/{args.family}/model_id"][()]
    model_ids, proportions = list(zoo["models/id"][()]), zoo["models/proportions"][()]
    print(f"{args.run}: zoo classes {[NAMES[c] for c in classes]}")
    per_slot = [[] for _ in classes]
    for row, model in enumerate(ids):
        p = proportions[model_ids.index(model)]
        predicted = classify(net, images[row, :16])
        print(f"  model {model} (proportions {np.round(p, 2)}): {shares(predicted)}")
        for slot in range(len(classes)):
            if p[slot] >= 0.1:
                per_slot[slot].append(predicted)
    for slot, label in enumerate(classes):
        if per_slot[slot]:
            print(f"  models with >= 10 % {NAMES[label]}: their samples are {shares(np.concatenate(per_slot[slot]))}")
    x = idx(args.data + "/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    y = idx(args.data + "/t10k-labels-idx1-ubyte.gz", 8)
    for label in classes:
        print(f"  real {NAMES[label]} test images: {shares(classify(net, x[y == label][:500]))}")


if __name__ == "__main__":
    main()
