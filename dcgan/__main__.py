"""Entry point for `python -m dcgan`."""
import sys

from .cli import main

sys.exit(main())
