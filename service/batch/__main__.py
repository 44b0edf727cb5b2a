"""`python -m service.batch`: runs the command."""

import sys

from service.batch.cli import main

# Worker processes may import this module under another name; only a real `-m` run starts a batch.
if __name__ == "__main__":
    sys.exit(main())
