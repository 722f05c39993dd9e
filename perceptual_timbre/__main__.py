"""``python -m perceptual_timbre``: the main demo job (see :mod:`perceptual_timbre.demo`)."""

import sys

from .demo import main

sys.exit(main())
