"""`imip-gateway` on root's PATH: the imip_gateway role's wrapper runs the
virtualenv's command as the service's user, with the site's configuration, whatever root types.

The template is rendered with Jinja and Ansible's own `comment` and `quote` filters, from the
role's vars, and run with /bin/sh; the gateway's command is a stand-in that says who ran it with
which arguments (the real one lives in a virtualenv the service user may not read here)."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "imip_gateway"
# imip_gateway_venv is a site fact (the status report reads it too).
SITE_FACTS = ROLE.parent / "site_facts"


def render(**overrides):
    # Imported here, not at the top: importing Ansible's filter plugins at collection time
    # changes how in-process module tests elsewhere in the suite see their warnings.
    from ansible.plugins.filter.core import comment, quote  # pylint: disable=import-outside-toplevel

    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    defaults = yaml.safe_load((SITE_FACTS / "defaults" / "main.yml").read_text())
    variables = {"ansible_managed": "Ansible managed", "imip_gateway_venv": defaults["imip_gateway_venv"],
                 "__imip_gateway_config": role_vars["__imip_gateway_config"],
                 "__imip_gateway_user": role_vars["__imip_gateway_user"], **overrides}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(comment=comment, quote=quote)
    return env.from_string((ROLE / "templates" / "usr" / "local" / "sbin" / "imip-gateway.j2").read_text()).render(
        **variables)


def test_the_wrapper_names_the_role_paths_and_is_a_shell_script():
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert role_vars["__imip_gateway_command"] == "/usr/local/sbin/imip-gateway"
    text = render()
    assert text.startswith("#!/bin/sh\n#\n# Ansible managed\n#\n")
    assert "command=/opt/imip/gateway/bin/imip-gateway\n" in text and "config=/etc/imip-gateway/gateway.ini\n" in text
    assert "sudo " not in text and 'exec runuser -u "$user" --' in text
    assert subprocess.run(["sh", "-n"], input=text, text=True, check=False).returncode == 0


@pytest.fixture
def shared_dir():
    """A directory the service user can reach (pytest's own tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="imip-wrapper-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="runuser needs root")
def test_root_runs_the_gateway_as_the_service_user_with_the_sites_config(shared_dir):
    tmp_path = shared_dir
    user = pwd.getpwnam("nobody").pw_name
    venv = tmp_path / "venv with space"
    (venv / "bin").mkdir(parents=True)
    command = venv / "bin" / "imip-gateway"
    command.write_text('#!/bin/sh\necho "$(id -un) $*"\n')
    for path in (tmp_path, venv, venv / "bin"):
        path.chmod(0o755)
    command.chmod(0o755)
    wrapper = tmp_path / "imip-gateway"
    wrapper.write_text(render(imip_gateway_venv=str(venv), __imip_gateway_user=user,
                              __imip_gateway_config="/etc/imip gateway/gateway.ini"))
    wrapper.chmod(0o755)
    out = subprocess.run([str(wrapper), "status", "--json"], capture_output=True, text=True, check=False,
                         cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"{user} --config /etc/imip gateway/gateway.ini status --json\n"
    # Anyone else is told to be root, not given a half-working command.
    other = subprocess.run(["runuser", "-u", "daemon", "--", str(wrapper), "status"], capture_output=True,
                           text=True, check=False, cwd="/")
    assert other.returncode == 1 and other.stderr == f"imip-gateway: run this as root; it runs the gateway's command as {user}\n"
