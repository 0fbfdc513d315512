"""``make alerts EMAIL=you@example.com`` and ``make alerts-off``: an e-mail when a round
fails, from Cloud Monitoring, without anything of ours running.

What ``make alerts`` makes (``policies``), each carrying the user label
``numerai-cloudrun=<what>`` so that a second run finds it and ``make alerts-off``
removes exactly these and nothing else:

- an e-mail notification channel per address in EMAIL (comma list);
- alert policy "numerai-cloudrun: a model failed": a log-match condition on the job's
  summary lines that say ``failed`` (``jsonPayload.event="failed"`` on the models' Cloud
  Run jobs), its label extractors lifting the model's name, the round, the execution and
  the summary line's ``reason`` into the incident, the notification's subject and text;
- alert policy "numerai-cloudrun: an execution failed": a log-match condition on the
  entries Cloud Run itself writes, at ERROR, when an execution of those jobs fails (a
  task's non-zero exit, a timeout, a kill, a crash before any summary line): a
  system-event audit entry (``logs/cloudaudit.googleapis.com%2Fsystem_event``, its
  ``protoPayload.status.message`` "Execution J-x has failed to complete, 0/1 tasks were
  a success.") and the job's system log (``logs/run.googleapis.com%2Fvarlog%2Fsystem``,
  e.g. a task out of memory, in ``textPayload``); either text goes into the incident.
  Both logs are matched: public sources disagree on which one carries the execution's
  failure, and an alert that never fires is the failure that matters. A failed model
  also fails its execution, so it sends both mails: the model's says why.

A log-match condition is a policy of its own (one condition each) and must set a
notification rate limit: one mail per 5 minutes (the minimum) for each combination of
extracted labels, i.e. per failed model and execution. Each policy covers the Cloud Run
jobs of every registered model (run `make alerts` again after adding a job).

Idempotent: the channels and policies are listed first; a missing one is created, one
that differs from what is wanted is updated (the whole policy is replaced from the same
JSON file), one that matches is left alone, a channel of ours for an address no longer
in EMAIL is deleted after the policies stop naming it. Every command is printed,
DRY_RUN=1 only prints them.

gcloud surfaces (gcloud 528): alert policies exist only as ``gcloud alpha monitoring
policies``, notification channels as ``gcloud beta monitoring channels`` (the alpha and
beta components: ``gcloud components install alpha beta`` where gcloud's own component
manager is used; Debian/RPM packages and Cloud Shell include them). Roles of whoever
runs it: Monitoring AlertPolicy Editor and Monitoring NotificationChannel Editor
(``roles/monitoring.alertPolicyEditor``, ``roles/monitoring.notificationChannelEditor``),
and Service Usage Admin once, to enable monitoring.googleapis.com. No service account
gets anything: Cloud Monitoring reads the logs itself.
"""
