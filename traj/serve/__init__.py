"""The FastAPI control plane: acting, uploads, training jobs, adapters, OpenAI-compatible API."""
