"""Playwright session on Chromium, the DOM snapshotter, the recorder and the action executor."""

from traj.browser._chromium import CHROMIUM_FLAGS, BrowserSession, find_chromium, has_display, launch
from traj.browser._executor import Execution, click, drag, execute_action, prime_actions
from traj.browser._handover import HandOver, PersonAction
from traj.browser._page_task import page_goal, page_verdict
from traj.browser._record import Demonstrator, record
from traj.browser._recorder import RecordedDemo, Recorder
from traj.browser._secrets import SECRET_ENV_PREFIX, SecretKeeper, Secrets, mark_secret, secret_env_name
from traj.browser._snapshot import (
    PageSnapshot,
    describe_matches,
    install_snapshotter,
    locators_for,
    matching_elements,
    resolve_locator,
    reveal_point,
    snapshot_script,
    take_snapshot,
)
from traj.browser._success import (
    SuccessVerdict,
    check_success,
    derive_success_spec,
    judge_success,
    make_success_spec,
    unconfirmed_values,
)

__all__ = [
    "CHROMIUM_FLAGS",
    "SECRET_ENV_PREFIX",
    "BrowserSession",
    "Demonstrator",
    "Execution",
    "HandOver",
    "PageSnapshot",
    "PersonAction",
    "RecordedDemo",
    "Recorder",
    "SecretKeeper",
    "Secrets",
    "SuccessVerdict",
    "check_success",
    "click",
    "derive_success_spec",
    "describe_matches",
    "drag",
    "execute_action",
    "find_chromium",
    "has_display",
    "install_snapshotter",
    "judge_success",
    "launch",
    "locators_for",
    "make_success_spec",
    "mark_secret",
    "matching_elements",
    "page_goal",
    "page_verdict",
    "prime_actions",
    "record",
    "resolve_locator",
    "reveal_point",
    "secret_env_name",
    "snapshot_script",
    "take_snapshot",
    "unconfirmed_values",
]
