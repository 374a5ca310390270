"""The local trainer: a worker that claims queued `local` jobs and trains LoRA adapters."""
