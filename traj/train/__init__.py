"""SDFT and SFT training of LoRA adapters (torch + PEFT, MLX) and the small local models."""
