"""``python -m station``: the same as the ``station`` command."""

import sys

from station.entry import main

sys.exit(main())
