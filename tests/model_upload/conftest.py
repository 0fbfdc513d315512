from tests.job.support import _restore_numerapi_url, job  # noqa: F401
