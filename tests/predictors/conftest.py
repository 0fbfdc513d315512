from tests.job.support import _restore_numerapi_url, job, pred1_models  # noqa: F401
