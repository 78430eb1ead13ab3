#!/usr/bin/env python
"""Export a trained run for TF Serving (`python export.py --help`); installed as `vade-export`."""
import sys

from vade_tf.commands.export import main

if __name__ == "__main__":
    sys.exit(main())
