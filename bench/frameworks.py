#!/usr/bin/env python3
"""Encoder throughput of TensorFlow and ONNX Runtime on the same weights as ecg-affect.

Usage: frameworks.py WEIGHTS.npz FRAMEWORK THREADS BATCHES SECONDS [CHECK_NPY]
  FRAMEWORK: tf | ort.  Prints one TSV line per batch: framework, batch, threads, windows/s
  (median of timed runs after a warm-up). With CHECK_NPY (inputs (8, 2560) and the
  expected embeddings beside it as *_emb.npy) also prints the max relative difference.
Runs in its own process per thread count so that thread settings take effect.
"""
import os, sys, time
import numpy as np

weights_path, fw, threads, batches, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
check = sys.argv[6] if len(sys.argv) > 6 else None
W = {k.replace("/", "."): v for k, v in np.load(weights_path).items()}
arch = [(32, 1, 32), (32, 32, 32), (16, 32, 64), (16, 64, 64), (8, 64, 128), (8, 128, 128)]

def build_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    inp = tf.keras.Input((2560, 1))
    x = inp
    for i, (k, ci, co) in enumerate(arch):
        conv = tf.keras.layers.Conv1D(co, k, padding="same")
        x = conv(x)
        conv.set_weights([W[f"conv_layer_{i+1}.kernel"], W[f"conv_layer_{i+1}.bias"]])
        x = tf.keras.layers.LeakyReLU(negative_slope=0.2)(x)
        if i in (1, 3):
            x = tf.keras.layers.MaxPool1D(8, 2, padding="valid")(x)
    x = tf.keras.layers.GlobalMaxPool1D()(x)
    model = tf.keras.Model(inp, x)
    fn = tf.function(lambda a: model(a, training=False), jit_compile=False)
    return lambda a: fn(tf.constant(a[:, :, None])).numpy()

def build_ort():
    import onnx
    from onnx import helper, TensorProto, numpy_helper
    import onnxruntime as ort
    nodes, inits = [], []
    cur = "x"
    for i, (k, ci, co) in enumerate(arch):
        wk = np.ascontiguousarray(W[f"conv_layer_{i+1}.kernel"].transpose(2, 1, 0))  # [out, in, k]
        inits += [numpy_helper.from_array(wk, f"w{i}"), numpy_helper.from_array(W[f"conv_layer_{i+1}.bias"], f"b{i}")]
        left = (k - 1) // 2
        nodes.append(helper.make_node("Conv", [cur, f"w{i}", f"b{i}"], [f"c{i}"], pads=[left, k - 1 - left], kernel_shape=[k]))
        nodes.append(helper.make_node("LeakyRelu", [f"c{i}"], [f"a{i}"], alpha=0.2))
        cur = f"a{i}"
        if i in (1, 3):
            nodes.append(helper.make_node("MaxPool", [cur], [f"p{i}"], kernel_shape=[8], strides=[2]))
            cur = f"p{i}"
    nodes.append(helper.make_node("GlobalMaxPool", [cur], ["g"]))
    nodes.append(helper.make_node("Flatten", ["g"], ["y"]))
    g = helper.make_graph(nodes, "ssl_ecg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2560])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 128])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda a: sess.run(["y"], {"x": a[:, None, :]})[0]

run = build_tf() if fw == "tf" else build_ort()
if check:
    x = np.load(check).astype(np.float32)
    want = np.load(check.replace(".npy", "_emb.npy"))
    got = run(x)
    print(f"#check\t{fw}\t{np.abs(got - want).max() / np.abs(want).max():.2e}", flush=True)
rng = np.random.default_rng(0)
for b in [int(v) for v in batches.split(",")]:
    x = rng.standard_normal((b, 2560)).astype(np.float32)
    run(x); run(x)
    rates, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(rates) < 5:
        s = time.perf_counter(); run(x); e = time.perf_counter()
        rates.append(b / (e - s))
    print(f"{fw}\t{b}\t{threads}\t{np.median(rates):.1f}", flush=True)
