import sys

from propensity.report.command_line import main

sys.exit(main())
