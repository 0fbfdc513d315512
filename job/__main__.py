"""``python -m job``: run, flush the logs, and leave without interpreter teardown.

Tearing the interpreter down (collecting the modules of pandas, polars, catboost and
numpy, freeing the CatBoost models and the live data) costs 0.10-0.15 s of a ~1 s run,
measured, and helps nothing: the process ends either way. Nothing the job needs happens
at exit: it starts no threads, registers no atexit hooks, and deletes its temporary
downloads itself (numerai_data.cache, in ``finally``). What would be lost is buffered output,
so the log handlers are shut down and both streams flushed before ``os._exit``. Under a
tracer or profiler (coverage, ``python -m cProfile -m job``), which write their results at
exit, the interpreter exits normally. A predictor's own atexit hooks do not run.

``job.cli.main`` itself returns the exit code, so tests call it in-process; only here is
the process the job's own (``own_process``: job.footprint's process-wide memory settings).
"""

import logging
import os
import sys

from job.cli import main

code = main(own_process=True)
if sys.gettrace() is not None or sys.getprofile() is not None:
    sys.exit(code)
logging.shutdown()
try:
    sys.stdout.flush()
    sys.stderr.flush()
except (OSError, ValueError):  # a closed or broken stream: let the interpreter report it
    sys.exit(code)
os._exit(code)
