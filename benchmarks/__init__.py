"""The benchmarks, the GPU check and the tools behind results/: outside the installed package (a
checkout has them; ``pip install vade-tf`` does not), run from the checkout's root as
``python -m benchmarks.<name>``. Each module's docstring gives its command; tests/ runs each one."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before a tool imports TensorFlow
