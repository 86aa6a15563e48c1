"""The training step and everything that runs it: the step, compile modes, optimizers, run configs, loops, fine-tuning (LoRA), checkpoints, devices."""
