#!/usr/bin/env python3
"""Reads a pretrain run's summaries with TensorBoard's own EventAccumulator and checks
that the scalars are there, one per step, and finite. Usage: check_tensorboard.py RUN STEPS"""
import math, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

run, steps = sys.argv[1], int(sys.argv[2])
ea = EventAccumulator(os.path.join(run, "summaries"))
ea.Reload()
tags = ea.Tags()["scalars"]
need = ["loss/total", "learning_rate"] + [t for t in tags if t.startswith("loss/task_")]
assert len([t for t in tags if t.startswith("loss/task_")]) == 7, tags
for t in need:
    ev = ea.Scalars(t)
    assert [e.step for e in ev] == list(range(1, steps + 1)), (t, [e.step for e in ev])
    assert all(math.isfinite(e.value) for e in ev), t
for f in ["output/steps.csv", "output/epochs.csv", "models/epoch_1/manifest.json", "models/epoch_1/encoder.npz", "models/epoch_1/optimizer.npz"]:
    assert os.path.exists(os.path.join(run, f)), f
print(f"TensorBoard read {len(tags)} scalar tags x {steps} steps from {run}/summaries")
