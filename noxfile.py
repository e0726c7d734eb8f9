"""The checks of `make test` as nox sessions (`nox -l` lists them, `nox -s unit` runs one).

Two kinds of session:

- In the project's venv (.venv, made by `make venv` from requirements-dev.txt; nox itself is
  installed there): lint, yamllint, ansible-lint, unit, sanity, docs, changelog, collection-build,
  collection-install. They need the project's own toolchain (ansible-core, ansible-lint,
  antsibull-*, the collections of the `ansible` package) at the versions `make venv` pins, so a
  second copy would only cost time. These sessions install nothing: run `make venv` after the
  requirements change (they say so when .venv is older than the requirements files).
- In venvs of their own under .cache/nox/ (a cache: `make clean` removes it): gateway and the
  compat matrix, each on the Python it needs and with pinned requirements only. A venv is reused
  while its inputs (requirements files, pins, Python) are unchanged and made anew when one changes,
  so a run with nothing changed installs nothing.

Interpreters: nox's `python=` selection, given a path when a plain `python3.X` command is a pyenv
shim of an inactive version (pyenv's own versions are found too); nothing is ever downloaded.
antsibull-nox is not used: docs/developing.md says why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from glob import glob
from pathlib import Path

import nox
import nox.command

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
CACHE = ROOT / ".cache"
ENVDIR = CACHE / "nox"
COLLECTIONS = CACHE / "collections"

nox.options.envdir = str(ENVDIR)
nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"  # whether a venv is still current is decided per session (_current)
nox.options.download_python = "never"  # only interpreters that are on the machine
nox.options.error_on_missing_interpreters = True  # a missing Python fails, never skips, a check
nox.options.sessions = ["lint", "unit", "gateway", "sanity", "docs", "changelog", "collection-build",
                        "collection-install", "compat-ansible-2.19", "compat-debian12-hash",
                        "compat-debian13-hash"]


# ---------------------------------------------------------------- interpreters
def _python(*versions: str) -> str:
    """The first of these versions found: `python3.X` on PATH (outside a venv) unless it is a pyenv shim or lacks
    venv/ensurepip (Debian's without python3-venv), else the newest pyenv install of it (found
    without a shim). Falls back to the first version's name, which nox then reports as missing."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    # Never a venv's interpreter (make puts .venv/bin first on PATH): the same Python is found
    # from make, from a shell and from a tool that a Molecule scenario starts.
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not (Path(d).parent / "pyvenv.cfg").exists())
    for version in versions:
        found = shutil.which(f"python{version}", path=path)
        if found and Path(found).parent.name != "shims" and subprocess.run(
                [found, "-c", "import venv, ensurepip"], capture_output=True, check=False).returncode == 0:
            return found
        installs = sorted(glob(str(pyenv / "versions" / f"{version}.*" / "bin" / f"python{version}")),
                          key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parts[-3])])
        if installs:
            return installs[-1]
    return versions[0]


# ---------------------------------------------------------------- sessions in the project's venv
def _project_env(session: nox.Session) -> dict[str, str]:
    """What the Makefile exports, for a session run without make; the collection link is made."""
    if not (VENV / "bin" / "python").exists():
        session.error("the project's venv .venv is missing: run `make venv`")
    stamp = VENV / ".installed"
    inputs = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
    if not stamp.exists() or any(f.stat().st_mtime > stamp.stat().st_mtime for f in inputs):
        session.error("the requirements changed since .venv was made: run `make venv`")
    link = COLLECTIONS / "ansible_collections" / "imip" / "server"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ROOT)
    paths = [str(COLLECTIONS), str(Path.home() / ".ansible" / "collections")]
    return {
        "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(VENV),
        "ANSIBLE_COLLECTIONS_PATH": os.environ.get("ANSIBLE_COLLECTIONS_PATH", os.pathsep.join(paths)),
        "ANSIBLE_CONFIG": os.environ.get("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg")),
    }


def _in_project(session: nox.Session, *command: str, **kwargs) -> None:
    env = _project_env(session)
    # nox finds a bare command name on its own PATH, not on env's: a tool of .venv is named by its
    # path, so that `.venv/bin/nox -s unit` from a shell without .venv on PATH runs .venv's pytest.
    tool = VENV / "bin" / command[0]
    if "/" not in command[0] and tool.exists():
        command = (str(tool), *command[1:])
    session.run(*command, env=env, external=True, **kwargs)


@nox.session(venv_backend="none", default=False)
def yamllint(session: nox.Session) -> None:
    """yamllint --strict on the whole tree (.yamllint)."""
    _in_project(session, "yamllint", "--strict", *(session.posargs or ["."]))


@nox.session(name="ansible-lint", venv_backend="none", default=False)
def ansible_lint(session: nox.Session) -> None:
    """ansible-lint, production profile (.ansible-lint)."""
    _in_project(session, "ansible-lint", *session.posargs)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """yamllint and ansible-lint (`make lint`; `make test` runs them as two checks)."""
    _in_project(session, "yamllint", "--strict", ".")
    _in_project(session, "ansible-lint")


@nox.session(venv_backend="none")
def unit(session: nox.Session) -> None:
    """The unit tests (tests/unit, pytest); arguments after -- go to pytest."""
    _in_project(session, "pytest", "-q", "-p", "no:cacheprovider", *(session.posargs or ["tests/unit"]))


@nox.session(venv_backend="none")
def sanity(session: nox.Session) -> None:
    """ansible-test sanity on a copy of the collection (tools/ansible-test-sanity)."""
    _in_project(session, "tools/ansible-test-sanity", *session.posargs)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """antsibull-docs lints every plugin's and role's documentation (tools/check-collection-docs)."""
    _in_project(session, "tools/check-collection-docs")


@nox.session(venv_backend="none")
def changelog(session: nox.Session) -> None:
    """The fragments lint and CHANGELOG.md is what antsibull-changelog generates (tools/check-changelog)."""
    _in_project(session, "tools/check-changelog")


@nox.session(name="collection-build", venv_backend="none")
def collection_build(session: nox.Session) -> None:
    """The collection builds and its tarball carries no developer files (tools/check-collection-build)."""
    _in_project(session, "tools/check-collection-build")


@nox.session(name="collection-install", venv_backend="none")
def collection_install(session: nox.Session) -> None:
    """The built tarball installs and documents itself; a newcomer's site from it (tools/check-collection-install)."""
    _in_project(session, "tools/check-collection-install")


# ---------------------------------------------------------------- sessions in venvs of their own
def _digest(*parts: str | Path) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update((part.read_bytes() if isinstance(part, Path) else part.encode()) + b"\0")
    return sha.hexdigest()[:16]


def _current(name: str, stamp: str) -> bool:
    """Reuse the venv of session `name` only when it was installed from these inputs; otherwise nox
    makes it anew (pip install is additive: a pin removed would stay installed). The stamp lives in
    the venv (a venv made anew has none); .cache/nox/.imip-venvs/<session> records where that is."""
    try:
        location = Path((ENVDIR / ".imip-venvs" / name).read_text().strip())
        return (location / ".imip-pins").read_text() == stamp
    except OSError:
        return False


def _install(session: nox.Session, name: str, stamp: str, *pip_args: str) -> None:
    location = Path(session.virtualenv.location)
    pins = location / ".imip-pins"
    if pins.is_file() and pins.read_text() == stamp:
        session.log(f"{name}: venv current (pins unchanged), nothing to install")
        return
    pins.unlink(missing_ok=True)
    session.install("--disable-pip-version-check", "--quiet", *pip_args)
    pins.write_text(stamp)
    record = ENVDIR / ".imip-venvs" / name
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(f"{location}\n")


def _pins(*files: str) -> list[str]:
    return [line.strip() for f in files for line in (ROOT / f).read_text().splitlines()
            if line.strip() and not line.strip().startswith(("#", "-r"))]


# -- gateway: gateway/tests on Debian 12's Python 3.11 (the oldest hosts run), else the newest found
GATEWAY_PYTHON = _python("3.11", "3.14", "3.13", "3.12")
GATEWAY_INPUTS = (ROOT / "gateway" / "requirements.txt", ROOT / "gateway" / "requirements-test.txt",
                  ROOT / "gateway" / "pyproject.toml")
GATEWAY_STAMP = _digest(*GATEWAY_INPUTS)


@nox.session(python=GATEWAY_PYTHON, reuse_venv=_current("gateway", GATEWAY_STAMP))
def gateway(session: nox.Session) -> None:
    """The iMIP gateway's tests (gateway/tests) in .cache/nox/gateway; arguments after -- go to pytest.

    The package is installed afresh on every run, as hosts get it (a regular install with its
    entry point), from a copy in .cache/gateway-build: building in gateway/ would leave build/
    and *.egg-info there, and anything left in gateway/ ships in the collection."""
    _install(session, "gateway", GATEWAY_STAMP,
             "-r", "gateway/requirements.txt", "-r", "gateway/requirements-test.txt")
    # The benchmarks' commands (docs/benchmarks.md) name the venv .cache/gateway-venv.
    alias = CACHE / "gateway-venv"
    if alias.is_symlink() or alias.exists():
        if alias.is_dir() and not alias.is_symlink():
            shutil.rmtree(alias)  # the venv tools/gateway-test made before nox
        else:
            alias.unlink()
    alias.symlink_to(os.path.relpath(session.virtualenv.location, CACHE))

    build = CACHE / "gateway-build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / "gateway" / name, build / name)
    shutil.copytree(ROOT / "gateway" / "src", build / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    session.run("python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--no-build-isolation", "--force-reinstall", str(build))
    if not shutil.which("openssl"):  # makes the SMTP test server's throw-away certificate
        session.error("openssl is missing (apt-get install openssl)")
    session.chdir(ROOT / "gateway")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs,
                env={"HYPOTHESIS_STORAGE_DIRECTORY": str(CACHE / "hypothesis")})


# -- the compat matrix: the versions the collection claims to support. Every version a row does
# not pin itself comes from requirements.txt / requirements-dev.txt (their pins as constraints),
# so the test tools are the same as in .venv.
HASH_TESTS = ["tests/unit/plugins/module_utils/test_dovecot_hash.py",
              "tests/unit/plugins/module_utils/test_dovecot_passwd.py",
              "tests/unit/plugins/modules/test_dovecot_passwd_file.py"]
COMPAT = {
    # name: (Python, what is installed, the description)
    "ansible-2.19": ("3.11", ["ansible-core", "cryptography", "pytest", "libpass", "bcrypt", "argon2-cffi",
                              "dnspython"],
                     "Unit tests and ansible-test sanity on ansible-core 2.19 with Python 3.11 "
                     "(meta/runtime.yml's lower bound)."),
    "debian12-hash": ("3.11", ["ansible-core", "pytest", "-r", "tests/compat/debian12-hash.txt"],
                      "The hash code's unit tests with the passlib, bcrypt and argon2 Debian 12 ships, on its Python."),
    "debian13-hash": ("3.13", ["ansible-core", "pytest", "-r", "tests/compat/debian13-hash.txt"],
                      "The hash code's unit tests with the passlib, bcrypt and argon2 Debian 13 ships, on its Python."),
}


def _constraints(install: list[str]) -> list[str]:
    """The pins of .venv less the packages a compat file pins itself (and libpass, which provides
    the same import as passlib, when a file pins passlib)."""
    own = {m.group(1).lower() for i, a in enumerate(install) if i and install[i - 1] == "-r"
           for m in map(re.compile(r"^([A-Za-z0-9_.-]+)==").match, _pins(a)) if m}
    if own:
        own.add("libpass")
    return [p for p in _pins("requirements.txt", "requirements-dev.txt")
            if re.split(r"[=<>!~; ]", p, maxsplit=1)[0].lower() not in own]


def _compat(target: str, install: list[str], stamp: str):
    def session_func(session: nox.Session) -> None:
        name = f"compat-{target}"
        venv = Path(session.virtualenv.location)
        constraints = venv / "imip-constraints.txt"
        constraints.write_text("\n".join(_constraints(install)) + "\n")
        _install(session, name, stamp, "-c", str(constraints), *install)
        session.run("python", "-c", "import importlib.metadata as m; print(', '.join(f'{d} {m.version(d)}' for d in "
                    "('ansible-core', 'passlib', 'libpass', 'bcrypt', 'argon2-cffi', 'pytest') "
                    "if any(x.metadata['Name'].lower() == d for x in m.distributions())))")
        if target == "ansible-2.19":
            core = session.run("ansible", "--version", silent=True) or ""
            session.log(core.splitlines()[0] if core else "no ansible --version output")
            if not core.startswith("ansible [core 2.19."):
                session.error(f"expected ansible-core 2.19 in {venv}")
            # Both run, so one report shows both; the session fails if either did. Less the tests
            # that run the repository's own .venv/bin/ansible-playbook: they test the playbooks
            # with .venv's Ansible and ran in the unit session already.
            failed = []
            try:
                session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not repository_ansible",
                            "tests/unit")
            except nox.command.CommandFailed:
                failed.append("unit tests")
            try:
                session.run("tools/ansible-test-sanity", external=True,
                            env={"IMIP_SANITY_ROOT": str(CACHE / "sanity-2.19")})
            except nox.command.CommandFailed:
                failed.append("ansible-test sanity")
            if failed:
                session.error(f"{name}: {' and '.join(failed)} failed")
        else:
            session.run("python", "-c", "from importlib.metadata import version; import passlib; "
                        "print(f'passlib {passlib.__version__} (distribution passlib {version(\"passlib\")})')")
            session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *HASH_TESTS)

    return session_func


for _target, (_version, _install_args, _doc) in COMPAT.items():
    _name = f"compat-{_target}"
    _stamp = _digest(_version, *_install_args, *_constraints(_install_args),
                     *[ROOT / a for i, a in enumerate(_install_args) if i and _install_args[i - 1] == "-r"])
    _func = _compat(_target, _install_args, _stamp)
    _func.__doc__ = _doc
    _func.__name__ = _name.replace("-", "_").replace(".", "_")
    nox.session(name=_name, python=_python(_version), tags=["compat"], reuse_venv=_current(_name, _stamp))(_func)



# -- drift-job-env: the job environment of tools/drift-job (what the execution environment holds:
# requirements.txt and the pinned ansible-runner), on the newest Python found, as `make venv`
# picks. Install only: tools/drift-job runs the jobs with this venv's ansible-runner.
DRIFT_JOB_PYTHON = _python("3.14", "3.13", "3.12", "3.11")
DRIFT_JOB_RUNNER = next(pin for pin in _pins("requirements-dev.txt") if pin.startswith("ansible-runner=="))
DRIFT_JOB_STAMP = _digest(DRIFT_JOB_PYTHON, ROOT / "requirements.txt", DRIFT_JOB_RUNNER)


@nox.session(name="drift-job-env", python=DRIFT_JOB_PYTHON, reuse_venv=_current("drift-job-env", DRIFT_JOB_STAMP),
             default=False)
def drift_job_env(session: nox.Session) -> None:
    """The venv tools/drift-job runs ansible-runner in (requirements.txt + ansible-runner), made or kept."""
    _install(session, "drift-job-env", DRIFT_JOB_STAMP, "-r", "requirements.txt", DRIFT_JOB_RUNNER)
