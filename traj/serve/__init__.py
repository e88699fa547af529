"""The FastAPI control plane (acting, uploads, training jobs, adapters, OpenAI-compatible API) and its client.

``train_remote`` is the laptop's side of ``traj train --remote``: upload, train there, fetch the adapter.
"""

from traj.serve._app import create_app
from traj.serve._client import train_remote
from traj.serve._limits import ServeLimits, check_bind, check_token
from traj.serve._server import serve_in_thread

__all__ = ["ServeLimits", "check_bind", "check_token", "create_app", "serve_in_thread", "train_remote"]
