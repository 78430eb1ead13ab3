#!/usr/bin/env python
"""Run methods over seeds (`python experiment.py --help`); installed as `vade-experiment`."""
import sys

from vade_tf.commands.experiment import main

if __name__ == "__main__":
    sys.exit(main())
