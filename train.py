#!/usr/bin/env python
"""Train VaDE (`python train.py --help`); installed as `vade-train`."""
import sys

from vade_tf.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
