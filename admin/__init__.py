"""tunebot admin layer: datasets, fine-tuning jobs, scheduler; called by bot/, calls storage/."""
