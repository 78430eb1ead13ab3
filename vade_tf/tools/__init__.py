"""The command-line tools behind results/ and bench/, run from the repository root as
``python -m vade_tf.tools.<name>``: each module's docstring gives its command."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before a tool imports TensorFlow
