"""``traj view``: a local web page over the store's projections, like a trace viewer for teaching agents.

Demos and runs with filters and search, a step timeline (screenshots with the acted element's
box, locator, enrichment, replay status, feedback buttons), training curves with the step-0
KL diagnosis, adapter lineage, and a read-only SQL box. The page reads only through HTTP JSON
endpoints over the projections; screenshots come from the blob store by hash; feedback
buttons append ``feedback`` events through ``traj.agent.record_feedback``. No CDN: the
page works offline.
"""

from traj.view._app import STATIC_DIR, create_app

__all__ = ["STATIC_DIR", "create_app"]
