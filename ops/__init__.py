"""Deployment verbs (``make setup``, ``release``, ``rerun``, …) over the gcloud CLI.

Standard library only: ``python3 -m ops`` works before any virtualenv exists. Every
command is printed before it runs; DRY_RUN=1 prints without running.
"""
