"""Data health: what is wrong with a project's labelled data, read from the cached
frozen-backbone embeddings after each training (issue 14).

- ``compute``: the ``HealthJob`` on the job machine: cross-validated probabilities and
  accuracy interval, label issues (confident learning), near-duplicates over every image
  (train/test leaks first), outliers, and the model's guesses for unlabelled images;
- ``services``: asking for a report (``health_job_request``, also queued after every
  successful training) and dismissing an issue (``health_dismiss``);
- ``selectors``: the report as the API shows it and the "label next" suggestions;
- ``neighbours``: each flagged image's nearest labelled images (the "why" of the fix queue).

The numbers themselves come from ``apps.ml`` (``data_health``); this package only feeds it
the project's rows and stores what it says.
"""
