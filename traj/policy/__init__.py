"""Policy backends behind one protocol: transformers, mlx, remote, openai."""
