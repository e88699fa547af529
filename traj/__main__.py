"""``python -m traj``: the same command line as the ``traj`` script."""

from traj.cli import app

app(prog_name="traj")
