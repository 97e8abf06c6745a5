"""`python -m padirec ...`: see padirec.cli."""
import sys

from padirec.cli import main

sys.exit(main())
