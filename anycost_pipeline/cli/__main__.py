"""python -m anycost_pipeline.cli"""

import sys

from anycost_pipeline.cli import main

sys.exit(main())
