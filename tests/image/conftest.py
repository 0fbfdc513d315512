"""The job container's start-up test runs a pred1 model trained like the job's tests' ones."""

from tests.job.support import pred1_models  # noqa: F401 - a fixture
