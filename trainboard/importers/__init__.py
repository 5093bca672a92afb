"""Imports of runs kept elsewhere: an MLflow tracking server (`mlflow.py`) and TensorBoard event files
(`tensorboard.py`, with the event-file reader in `tfevents.py`). Both write through the Trainboard
server's MLflow API (`_mlflow_rest.py`), so imported runs go through the one ingestion path."""
