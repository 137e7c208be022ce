#!/usr/bin/env python3
"""Pre-training step throughput of TensorFlow on the same graph as ecg-train pretrain:
encoder + 7 heads, sigmoid CE with the paper's loss weights, L2 1e-4 on kernels, Adam.
Usage: train_tf.py THREADS BATCH STEPS  → prints "tf<TAB>batch<TAB>threads<TAB>windows/s"
(windows counted as ecg-train counts them: batch × 7 versions per step)."""
import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf

threads, batch, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(1)
L = tf.keras.layers
inp = tf.keras.Input((2560, 1))
x = inp
for i, (k, co) in enumerate([(32, 32), (32, 32), (16, 64), (16, 64), (8, 128), (8, 128)]):
    x = L.Conv1D(co, k, padding="same")(x)
    x = L.LeakyReLU(negative_slope=0.2)(x)
    if i in (1, 3):
        x = L.MaxPool1D(8, 2)(x)
emb = L.GlobalMaxPool1D()(x)
logits = []
for i in range(7):
    h = L.LeakyReLU(negative_slope=0.2)(L.Dense(128)(emb))
    h = L.LeakyReLU(negative_slope=0.2)(L.Dense(128)(h))
    logits.append(L.Dense(1)(h))
model = tf.keras.Model(inp, L.Concatenate(axis=1)(logits))
coef = tf.constant([0.195, 0.195, 0.195, 0.0125, 0.0125, 0.195, 0.195])
opt = tf.keras.optimizers.Adam(1e-3)
kernels = [v for v in model.trainable_variables if "kernel" in v.name]

@tf.function
def step(xb, yb):
    with tf.GradientTape() as tape:
        lg = model(xb, training=True)
        ce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=lg), axis=0)
        loss = tf.reduce_sum(coef * ce) + 1e-4 * tf.add_n([tf.nn.l2_loss(k) for k in kernels])
    g = tape.gradient(loss, model.trainable_variables)
    opt.apply_gradients(zip(g, model.trainable_variables))
    return loss

n = batch * 7
rng = np.random.default_rng(0)
xb = tf.constant(rng.standard_normal((n, 2560, 1)).astype(np.float32))
yb = tf.constant(np.eye(7, dtype=np.float32)[np.arange(n) % 7])
step(xb, yb); step(xb, yb)
rates = []
for _ in range(steps):
    t0 = time.perf_counter(); step(xb, yb).numpy(); rates.append(n / (time.perf_counter() - t0))
print(f"tf\t{batch}\t{threads}\t{np.median(rates):.1f}", flush=True)
