"""The ``traj`` command line (placeholder replaced below)."""
