"""Suite-wide: the tests' journals live in temporary directories on whatever disk the runner
has. A CI job that itself runs in a Kubernetes pod would make destination-crmone refuse them
as ephemeral (docs/destination-crmone.md, "Where the journal lives"); the tests of that rule
set `KUBERNETES_SERVICE_HOST` themselves."""

import os

os.environ.pop("KUBERNETES_SERVICE_HOST", None)
