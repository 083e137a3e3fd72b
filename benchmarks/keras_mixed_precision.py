"""Run the Keras speed reference under a Keras mixed-precision policy (for `bench_vs_keras.py --precision bf16`).

    /tmp/keras-env/bin/python benchmarks/keras_mixed_precision.py mixed_bfloat16 ../shared/anchors/keras_reference.py \
        gesture-cnn --samples 8192

Sets `keras.mixed_precision.set_global_policy(POLICY)` (float16/bfloat16 compute, float32 variables: the Keras
counterpart of torch autocast) and then runs the reference script unchanged, so the bfloat16 comparison is
bfloat16 on both sides. Runs in the Keras environment; not a neuralab dependency.
"""

import os
import runpy
import sys

if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: keras_mixed_precision.py POLICY REFERENCE.py [reference arguments...]")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    policy, reference = sys.argv[1], sys.argv[2]
    import keras

    keras.mixed_precision.set_global_policy(policy)
    sys.argv = [reference, *sys.argv[3:]]
    runpy.run_path(reference, run_name="__main__")
