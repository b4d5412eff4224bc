"""``python -m edge_emotion.training`` (see :mod:`edge_emotion.training.cli`)."""

import sys

from edge_emotion.training.cli import main

sys.exit(main())
