"""A stand-in for a user's training script, run by `trainboard agent` in the tests: its dev error depends on
the sampled learning rate (best near 0.01), so early stopping has something to stop; `crash` makes it fail.
It never looks at run.should_stop: stopping a trial is left to the agent."""

import math
import time

import trainboard

run = trainboard.init(project="ignored under an agent", params={"lr": 0.1, "epochs": 3, "crash": False})
config = run.config
if config["crash"]:
    raise RuntimeError(f"boom at lr={config['lr']:.3g}")
for epoch in range(1, config["epochs"] + 1):
    dev_error = min(1.0, abs(math.log10(config["lr"]) + 2) / 4 + 0.2 / epoch)
    run.log({"train_error": 0.8 * dev_error, "dev_error": dev_error}, step=epoch)
    run.flush()  # the server decides on each epoch at once
    time.sleep(1.0)
run.finish()
time.sleep(1.5)  # work after finishing (saving, uploading) that the agent must not interrupt
print(f"run {run.id} exits on its own", flush=True)
