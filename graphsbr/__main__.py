"""``python -m graphsbr`` (and ``torchrun -m graphsbr``) runs the command line."""
import sys

from .cli import main

sys.exit(main())
