"""MLflow's tracking REST API on Trainboard, so that an unchanged MLflow script logs here with
`MLFLOW_TRACKING_URI=http://host:port` (and `MLFLOW_TRACKING_TOKEN` for a bearer token).

An experiment is a project, a run is an external run; everything goes through Trainboard's own services.

- `mount.py`      mounts both routers on the app under MLflow's prefixes
- `tracking.py`   the routes under /api/2.0/mlflow and /ajax-api/2.0/mlflow (experiments, runs, metrics)
- `artifacts.py`  the routes under /api/2.0/mlflow-artifacts (a run's files)
- `experiments.py`, `runs.py`, `search.py`, `history.py`  the adapter over projects, runs and metrics
- `filter_grammar.py`  MLflow's search grammar, pure; `convert.py` ids, times, statuses and JSON shapes
- `errors.py`     MLflow's `{"error_code", "message"}` for every refusal
"""
