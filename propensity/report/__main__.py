import sys

from propensity.report.cli import main

sys.exit(main())
