"""`python -m algorithms.model_monitor`: the image's entry point.

The image knows which SageMaker image it stands in for from MODEL_MONITOR_COMPONENT (baked in at
build time, like SAGEMAKER_ALGORITHM in the first-party algorithm images): `analyzer` or
`groundtruth-merger`.
"""

import os
import sys

from algorithms.model_monitor import analyzer, merge

if __name__ == "__main__":
    component = os.environ.get("MODEL_MONITOR_COMPONENT", "analyzer")
    sys.exit(merge.main(os.environ) if component == "groundtruth-merger" else analyzer.main(os.environ))
