"""Developer tasks: ``nox -s tests``, ``nox -s lint``, ``nox -s docs``, ``nox -s bench``.

Sessions run in the current environment (``venv_backend="none"``): install the project
first with the README's command. Creating a fresh virtualenv per session would download
torch (several GB) every time.
"""

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session(venv_backend="none")
def tests(session):
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(venv_backend="none")
def lint(session):
    paths = ["structnoise", "tests", "noxfile.py", "benchmarks", "docs", "README.md"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)


@nox.session(venv_backend="none")
def docs(session):
    """The documentation site (mkdocs.yml): every link and API reference must resolve."""
    session.run("mkdocs", "build", "--strict")


@nox.session(venv_backend="none")
def bench(session):
    """Benchmarks (minutes to hours on a CPU): DVLAE quality/speed, then the quick run."""
    args = session.posargs or ["all"]
    session.run("python", "benchmarks/run_benchmarks.py", *args)
