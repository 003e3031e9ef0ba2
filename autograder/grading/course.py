"""nbgrader settings and a course folder driven through the real ``nbgrader`` command.

One ``configure`` serves the repository's own ``nbgrader_config.py`` and every
temporary course (tests, demo), so they grade the same way.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from types import SimpleNamespace

from . import NBGRADER

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "batchnorm"
COURSE_ID = "batchnorm"
RELEASE_FILES = ("bn_helpers.py", "README.md", "requirements.txt")  # shipped beside the notebooks

# stderr text that does not cost points: Python warnings ("file.py:12: UserWarning: ...").
# Test cells signal failure by raising, never by writing to stderr.
WARNING_PATTERN = r"(?m)^.*:\d+: \w*Warning: "


def default_db_url(root):
    """The SQLite gradebook of the course at ``root``: build/gradebook.db (never committed)."""
    return f"sqlite:///{Path(root).resolve() / 'build' / 'gradebook.db'}"


def alembic_head_in_process():
    """Make nbgrader read its schema's revision in this process when it creates a gradebook.

    nbgrader stamps every new gradebook with the head revision of its own alembic scripts, which
    ``nbgrader.api.get_alembic_version`` gets by running ``alembic heads`` in a subprocess: about 3 core-s
    (a Python start and alembic's imports) per gradebook. alembic's own API gives the same head here in 0.1 s
    (``tests/test_grading.py`` compares the two). Called before any gradebook is opened (``configure``,
    ``gradebook``).
    """
    import nbgrader.api
    import nbgrader.dbutil

    if getattr(nbgrader.api.get_alembic_version, "in_process", False):
        return
    original = nbgrader.api.get_alembic_version

    def head():
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", nbgrader.dbutil.ALEMBIC_DIR)
        return ScriptDirectory.from_config(config).get_current_head()

    head.in_process, head.by_subprocess = True, original
    nbgrader.api.get_alembic_version = head


def one_engine_per_database():
    """Make nbgrader's gradebooks in this process share one SQLAlchemy engine per database URL.

    nbgrader opens a ``Gradebook`` about five times per notebook it autogrades, and each made a new engine, whose
    cache of compiled SQL statements starts empty: a sixth of a grading worker's CPU went into compiling the same
    queries again. ``Gradebook.close`` still disposes of the engine's connections, as before; only the engine and
    its statement cache outlive it. Called with ``alembic_head_in_process`` (``configure``, ``gradebook``).
    """
    import nbgrader.api

    if getattr(nbgrader.api.create_engine, "shared", False):
        return
    original, engines = nbgrader.api.create_engine, {}

    def create_engine(url, **options):
        key = (str(url), tuple(sorted(options.items())))
        if key not in engines:
            engines[key] = original(url, **options)
        return engines[key]

    create_engine.shared, create_engine.engines = True, engines
    nbgrader.api.create_engine = create_engine


def schemas_checked_once():
    """Make nbgrader check its cell-metadata schema once per process, not once per cell.

    nbgrader validates every cell's metadata with ``jsonschema.validate``, which first checks the schema itself
    against jsonschema's metaschema: nine tenths of the 25 ms a notebook's validation takes, twice per notebook
    autograded. The schema is nbgrader's own constant; each cell is still validated by the same validator class,
    with the same errors (``tests/test_grading.py``). Called with ``alembic_head_in_process`` (``configure``).
    """
    import jsonschema
    import nbgrader.nbgraderformat.common as common

    if getattr(common.jsonschema, "checked_once", False):
        return
    validators = {}  # id(schema) -> (schema, its validator)

    def validate(instance, schema):
        if id(schema) not in validators or validators[id(schema)][0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(validators[id(schema)][1].iter_errors(instance))
        if error is not None:
            raise error

    common.jsonschema = SimpleNamespace(validate=validate, checked_once=True)  # common.py's only use of the module


def configure(c, root, db_url=None, ignore_warnings=True, cell_timeout=60, sandbox="auto",
              memory_limit=2 * 2 ** 30, verdicts=True, exchange_root=None, stop_after_last_graded=True):
    """Apply the course's nbgrader settings to the traitlets config ``c`` for a course at ``root``.

    exchange_root: the folder of nbgrader's exchange (release_assignment, fetch, submit, collect), shared by
    instructor and students on one JupyterHub; None keeps nbgrader's default, /srv/nbgrader/exchange.
    sandbox: "bwrap" (kernels in a bubblewrap sandbox), "none", or "auto" (bwrap where it can run).
    memory_limit: bytes of address space of a graded kernel.
    verdicts: False only for plain nbgrader (hidden checks in the kernel, as the benchmark's baseline).
    stop_after_last_graded: leave the code cells after a notebook's last graded cell unrun (no score depends on
    them; the first says so in its output). False runs every cell, as plain nbgrader does.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, IgnorePattern,
                                        LimitOutput, SaveAutoGrades)

    from . import sandbox as sandboxes
    from .feedback import FeedbackExporter, GetGradesNamingAwaiting, HideHiddenTests
    from .term import LatePolicy
    from .verdicts import ApplyVerdicts, VerdictExecute

    alembic_head_in_process()
    one_engine_per_database()
    schemas_checked_once()
    root = Path(root).resolve()
    cd = c.CourseDirectory
    cd.root = str(root)
    cd.course_id = COURSE_ID
    if exchange_root:
        c.Exchange.root = str(exchange_root)
    cd.source_directory = "solutions"
    cd.release_directory = "course"
    cd.submitted_directory = "build/submitted"
    cd.autograded_directory = "build/autograded"
    cd.feedback_directory = "build/feedback"
    if db_url is None:
        (root / "build").mkdir(exist_ok=True)  # SQLite does not create folders
    cd.db_url = db_url or default_db_url(root)
    cd.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]
    c.IgnorePattern.enabled = ignore_warnings
    c.IgnorePattern.pattern = WARNING_PATTERN if ignore_warnings else ""
    c.Execute.timeout = cell_timeout
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.OverwriteCells.add_missing_cells = True  # a deleted test cell is restored and graded
    c.GenerateFeedback.preprocessors = [GetGradesNamingAwaiting, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    c.GenerateFeedback.exporter_class = FeedbackExporter
    c.AssignLatePenalties.plugin_class = LatePolicy  # the due date and policy the gradebook stores (term.py)
    if verdicts:
        # hidden checks answered by a verdict server in this process; test cells need a recorded pass
        c.Autograde.autograde_preprocessors = [VerdictExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                               ApplyVerdicts, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
        if sandbox == "auto":
            sandbox = "bwrap" if sandboxes.available()[0] else "none"
        c.VerdictExecute.sandbox = sandbox
        c.VerdictExecute.memory_limit = memory_limit
        c.VerdictExecute.stop_after_last_graded = stop_after_last_graded


def student_config(exchange_root):
    """The students' ``nbgrader_config.py`` on a JupyterHub (e.g. /etc/jupyter/): where the exchange is, which course."""
    return (f"# nbgrader's exchange for the batch-norm course: Assignment List, fetch and submit\n"
            f"c.Exchange.root = {str(exchange_root)!r}\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")


class NbgraderError(RuntimeError):
    """An nbgrader command exited with an error."""


def run_nbgrader(args, cwd, env, check=True):
    """Run ``nbgrader ARGS`` with this interpreter in ``cwd``; raise NbgraderError when it fails and ``check``."""
    proc = subprocess.run([sys.executable, "-c", NBGRADER, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed ({proc.returncode}) in {cwd}:\n"
                            f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def tool_env():
    """The environment of a tool this kit starts (nbgrader, the formgrader's server): this folder importable, and
    this environment's commands first (nbgrader calls `alembic`, kernels start `python`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


class Course:
    """A course folder (``solutions/``, ``course/``, ``build/``) graded with the nbgrader CLI."""

    def __init__(self, root, db_url=None):
        self.root = Path(root).resolve()
        self.db_url = db_url or default_db_url(self.root)

    @classmethod
    def create(cls, root, db_url=None, solutions=None, **options):
        """Make a course at ``root`` from ``solutions`` (default: this repository's ``solutions/``) and its own
        config file.

        options: further keyword arguments of ``configure`` (ignore_warnings, cell_timeout, sandbox, ...).
        """
        root = Path(root).resolve()
        if (root / "solutions").exists():
            shutil.rmtree(root / "solutions")
        shutil.copytree(solutions or ROOT / "solutions", root / "solutions",
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        (root / "build").mkdir(parents=True, exist_ok=True)
        (root / "nbgrader_config.py").write_text(textwrap.dedent(f"""\
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from autograder.grading.course import configure
            configure(c, root={str(root)!r}, db_url={db_url!r}, **{options!r})
            """))
        return cls(root, db_url)

    @property
    def release_dir(self):
        return self.root / "course" / ASSIGNMENT

    @property
    def source_dir(self):
        return self.root / "solutions" / ASSIGNMENT

    def submission_dir(self, student):
        return self.root / "build" / "submitted" / student / ASSIGNMENT

    def autograded_dir(self, student):
        return self.root / "build" / "autograded" / student / ASSIGNMENT

    def feedback_dir(self, student):
        return self.root / "build" / "feedback" / student / ASSIGNMENT

    def nbgrader(self, *args, check=True):
        """Run ``nbgrader ARGS`` in the course folder; raise NbgraderError when it fails."""
        return run_nbgrader(args, self.root, tool_env(), check)

    def generate(self):
        """The student release in ``course/``, and the assignment in the gradebook."""
        return self.nbgrader("generate_assignment", ASSIGNMENT, "--force")

    def generate_here(self, db=True):
        """``generate``, by nbgrader's API in this process with the course's own ``nbgrader_config.py``: what the
        command does, without a new Python that imports nbgrader (about 2 core-s). Raise NbgraderError on failure.

        db=False: the release alone; the course's gradebook is not written (another shard filled it). nbgrader's
        tables go into a throwaway gradebook: its own ``--no-db`` still writes every cell and its points into the
        course's (``SaveCells``).
        """
        from nbgrader.apps import NbGraderAPI

        config = self._config_here()
        with tempfile.TemporaryDirectory() as throwaway:
            if not db:
                config.CourseDirectory.db_url = f"sqlite:///{throwaway}/gradebook.db"
            result = NbGraderAPI(config=config).generate_assignment(ASSIGNMENT, force=True, create=True)
        return self._succeeded("generate_assignment", result)

    def autograde_here(self, student=None):
        """``autograde`` (``student``, else everyone submitted, one after another) by nbgrader's API in this process,
        as ``generate_here``; the students' results."""
        import warnings

        from nbgrader.apps import NbGraderAPI
        from sqlalchemy.exc import SAWarning

        api = NbGraderAPI(config=self._config_here())
        students = [student] if student else sorted(p.name for p in (self.root / "build" / "submitted").iterdir())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)  # nbgrader's session autoflush chatter, as in the workers
            return [self._succeeded(f"autograde {s}", api.autograde(ASSIGNMENT, s, force=True, create=True))
                    for s in students]

    def _config_here(self):
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.NbGraderAPI.log_level = "WARN"
        return config

    def _succeeded(self, what, result):
        if not result.get("success"):
            raise NbgraderError(f"nbgrader {what} failed in {self.root}:\n{result.get('log', '')[-3000:]}"
                                f"\n{result.get('error', '')[-6000:]}")
        return result

    def submit(self, student, notebooks, files=None):
        """Place a student's notebooks (name -> NotebookNode) and files (name -> bytes) in build/submitted."""
        import nbformat
        dest = self.submission_dir(student)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, dest / f"{name}.ipynb")
        for name, data in (files or {}).items():
            (dest / name).write_bytes(data)
        return dest

    def autograde(self, student=None, check=True):
        args = ["autograde", ASSIGNMENT, "--force"]
        if student:
            args.append(f"--student={student}")
        return self.nbgrader(*args, check=check)

    def export(self, csv_path):
        return self.nbgrader("export", f"--to={csv_path}")

    def grades(self):
        """{student: {notebook: {grade_id: (score, max_score)}}} from the gradebook."""
        from .gradebook import scores
        return scores(self.db_url)
