import sys

from calray.cli import main

sys.exit(main())
