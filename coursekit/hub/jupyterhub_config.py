"""JupyterHub configuration of the course's hub (``make hub``; run by coursekit/hub/__main__.py).

Settings come from the environment the launcher sets: DFS_HUB_ROOT (the folder of
coursekit/hub/layout.py), DFS_HUB_PORT and the three internal ports. Every user's server runs as
that Unix user (LocalProcessSpawner) from the course's venv; formgrader runs as a hub service
under the instructor's account in the course root, reachable by the formgrade-<course> group.
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

ROOT = Path(os.environ["DFS_HUB_ROOT"])
MADE = json.loads((ROOT / "made.json").read_text())["settings"]
COURSE_ID = MADE["course_id"]
VENV_BIN = Path(MADE["venv_bin"])
STATE = ROOT / "state"
PORT = int(os.environ["DFS_HUB_PORT"])

c.JupyterHub.bind_url = f"http://127.0.0.1:{PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{os.environ['DFS_HUB_API_PORT']}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['DFS_HUB_PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [MADE["proxy"]]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# DEMO AUTHENTICATION: one shared password for every account of this hub (in <root>/state/password).
# In production use PAM (JupyterHub's default, the accounts' own passwords) or your institution's
# authenticator (OAuthenticator, LDAPAuthenticator, LTI...), with the same allowed_users and groups.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = (STATE / "password").read_text().strip()
c.Authenticator.allowed_users = set(MADE["everyone"])
print(f"[coursekit.hub] DEMO AUTHENTICATION (shared password in {STATE / 'password'}): "
      "not for production; use PAM or your institution's authenticator", file=sys.stderr)

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
# The hub's nbgrader and server settings, the venv's bin/ first on PATH (coursekit/hub/__main__.py).
SERVER_ENV = MADE["server_env"]
c.Spawner.environment = SERVER_ENV
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 60
# Servers stop on SIGINT at once (answer_yes in their settings); a stuck one is not waited for 30 s.
c.Spawner.interrupt_timeout = 5
c.Spawner.term_timeout = 5

GRADE_GROUP, COURSE_GROUP = f"formgrade-{COURSE_ID}", f"nbgrader-{COURSE_ID}"
c.JupyterHub.load_groups = {
    GRADE_GROUP: {"users": MADE["graders"]},
    COURSE_GROUP: {"users": MADE["everyone"]},
}
c.JupyterHub.load_roles = [
    # The servers' tokens act for their user: nbgrader's course list asks the hub for its groups.
    {"name": "server", "scopes": ["inherit"]},
    {"name": GRADE_GROUP, "groups": [GRADE_GROUP], "scopes": [f"access:services!service={COURSE_ID}"]},
    {"name": COURSE_GROUP, "groups": [COURSE_GROUP],
     "scopes": ["list:services", f"read:services!service={COURSE_ID}"]},
    # formgrader adds the students it is told of to the course's group.
    {"name": f"{COURSE_ID}-formgrader", "services": [COURSE_ID],
     "scopes": ["read:users", "list:users", "read:groups", "list:groups", "groups"]},
]
c.JupyterHub.services = [{
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{os.environ['DFS_HUB_SERVICE_PORT']}",
    # umask 007: what formgrader writes (gradebook, autograded, feedback) stays the graders'
    "command": ["/bin/sh", "-c", 'umask 007 && exec "$0" "$@"', str(VENV_BIN / "jupyterhub-singleuser")],
    "user": MADE["instructor"],
    "cwd": MADE["course_root"],
    "environment": {**SERVER_ENV, "JUPYTERHUB_DEFAULT_URL": "/lab",
                    "JUPYTER_CONFIG_PATH": f"{ROOT / 'etc' / 'formgrader'}:{ROOT / 'etc' / 'jupyter'}"},
    "oauth_no_confirm": True,
}]
