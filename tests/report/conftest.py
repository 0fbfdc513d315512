from tests.deploy.conftest import gcloud  # noqa: F401
from tests.job.support import _restore_numerapi_url, pred1_models  # noqa: F401
from tests.report.deployment import deployment  # noqa: F401
