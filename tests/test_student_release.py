"""The zip a student receives: what is inside, and that it works on its own in a fresh virtual environment."""
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import release
from autograder.grading.course import ASSIGNMENT, ROOT
from autograder.samples.submissions import solved_assignment

GRADER_ONLY = {"pytest", "nbval", "psycopg", "psycopg-binary", "playwright", "coverage"}
EXPECTED = sorted([f"{ASSIGNMENT}/{n}" for n in (
    "01_axis_means_keepdims.ipynb", "02_forward.ipynb", "03_backward.ipynb", "04_running_statistics.ipynb",
    "05_batchnorm_in_a_network.ipynb", "06_normalization_family.ipynb", "07_why_batchnorm_works.ipynb",
    "bn_helpers.py", "README.md",
    "requirements.txt")])


@pytest.fixture(scope="module")
def student_zip(tmp_path_factory):
    return release.build_zip(tmp_path_factory.mktemp("release") / f"{ASSIGNMENT}.zip")


def pins(text):
    return dict(line.split("==") for line in text.splitlines() if line and not line.startswith("#"))


def test_zip_holds_the_notebooks_helpers_readme_and_requirements_only(student_zip):
    with zipfile.ZipFile(student_zip) as zf:
        assert sorted(zf.namelist()) == EXPECTED
        for name in zf.namelist():
            data = zf.read(name)
            assert release.instructor_material(name, data) is None, release.instructor_material(name, data)
            assert b"oracle" not in data and b"reference.py" not in data, f"{name} names grader code"


def test_zip_leaves_out_stray_files_and_refuses_instructor_material(tmp_path):
    folder = tmp_path / ASSIGNMENT
    shutil.copytree(ROOT / "course" / ASSIGNMENT, folder)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "02_forward-checkpoint.ipynb").write_text("{}")
    (folder / "gradebook.db").write_bytes(b"SQLite format 3\0")
    with zipfile.ZipFile(release.build_zip(tmp_path / "a.zip", folder)) as zf:
        assert sorted(zf.namelist()) == EXPECTED

    nb = nbformat.read(folder / "02_forward.ipynb", as_version=4)
    nb.cells[-1].source += "\n### BEGIN HIDDEN TESTS\ncheck('x', f)\n### END HIDDEN TESTS"
    nbformat.write(nb, folder / "02_forward.ipynb")
    with pytest.raises(release.ReleaseError, match="02_forward.ipynb contains 'BEGIN HIDDEN TESTS'"):
        release.build_zip(tmp_path / "b.zip", folder)
    assert not (tmp_path / "b.zip").exists()

    (folder / "README.md").unlink()
    with pytest.raises(release.ReleaseError, match="lacks README.md"):
        release.build_zip(tmp_path / "c.zip", folder)


def test_student_requirements_pin_what_the_notebooks_need_and_nothing_of_the_grader():
    text = release.REQUIREMENTS.read_text()
    assert text == release.requirements_text(), \
        "solutions/batchnorm/requirements.txt is stale: run `python -m autograder.release requirements`"
    student = pins(text)
    assert set(release.STUDENT_PACKAGES) <= set(student)
    assert not GRADER_ONLY & set(student)
    course = pins((ROOT / "requirements.txt").read_text().lower().replace("_", "-"))
    differs = {n: (v, course.get(n)) for n, v in student.items() if course.get(n) != v and n != "setuptools"}
    assert differs == {}, "student pins differ from requirements.txt"


VALIDATE = """
import json, sys
from nbgrader.validator import Validator
v = Validator()
v.stream = open("/dev/null", "w")
print(json.dumps({p: v.validate(p) for p in sys.argv[1:]}))
"""


def test_release_works_in_a_fresh_venv_made_from_its_requirements_alone(student_zip, course, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with zipfile.ZipFile(student_zip) as zf:
        zf.extractall(home)
    folder = home / ASSIGNMENT
    env = {"PATH": f"{tmp_path / 'venv' / 'bin'}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1", "MPLBACKEND": "agg"}
    # where the installer finds packages, and the certificates and proxies it needs to reach them
    for key in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_CONFIG_FILE", "UV_INDEX_URL",
                "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY",
                "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        if key in os.environ:
            env[key] = os.environ[key]
    # the wheels `make` already downloaded: what is installed is the same, only the download is saved
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    env["UV_CACHE_DIR"] = os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
    # the installer that made .venv (the Makefile's pinned uv, else pip), so that it installs from its own cache; the
    # pins are the whole closure either way (checked below), so both install the same packages
    uv = Path(sys.executable).parent / "uv"
    venv.create(tmp_path / "venv", with_pip=not uv.exists())
    py = str(tmp_path / "venv" / "bin" / "python")

    def run(*args, program=py):
        proc = subprocess.run([program, *args], cwd=folder, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"{args}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        return proc.stdout

    if uv.exists():
        run("pip", "install", "--quiet", "--python", py, "-r", "requirements.txt", program=str(uv))
        listed = run("pip", "list", "--python", py, "--format=json", program=str(uv))
    else:
        run("-m", "pip", "install", "--quiet", "--no-compile", "-r", "requirements.txt")  # bytecode made on import
        listed = run("-m", "pip", "list", "--format=json")
    installed = {d["name"].lower().replace("_", "-") for d in json.loads(listed)}
    assert installed - {"pip"} == set(pins((folder / "requirements.txt").read_text())), \
        "the student requirements are not the whole closure: the installer added packages, or left some out"
    proc = subprocess.run([py, "-c", "import autograder"], cwd=folder, env=env, capture_output=True)
    assert proc.returncode != 0, "the grader is importable from the student's environment"

    for name, nb in solved_assignment(folder, course.source_dir).items():
        nbformat.write(nb, folder / f"{name}.ipynb")
    paths = sorted(str(p) for p in folder.glob("*.ipynb"))
    results = json.loads(run("-c", VALIDATE, *paths).strip().splitlines()[-1])
    assert len(results) == len(paths) == sum(n.endswith(".ipynb") for n in EXPECTED)
    assert all(r == {} for r in results.values()), f"visible tests fail in the student's environment: {results}"


def test_release_command_writes_the_zip(tmp_path, capsys):
    # `make release` regenerates course/ (make assignment), then runs this command
    assert "release: assignment" in (ROOT / "Makefile").read_text()
    assert release.main(["--out", str(tmp_path / "out.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert sorted(zf.namelist()) == EXPECTED
    assert f"{len(EXPECTED)} files" in capsys.readouterr().out
