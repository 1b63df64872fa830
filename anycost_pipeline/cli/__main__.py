"""python -m anycost_pipeline.cli"""

from anycost_pipeline.cli import entry

entry()
