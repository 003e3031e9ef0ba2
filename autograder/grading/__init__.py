"""Grading a class: intake, sandboxed kernels, verdicts, the parallel pipeline, feedback and report.

Imports run one way: grading uses the oracle, the oracle never imports grading.
"""
import sys

# jsonschema's optional IRI format check compiles 38 grammars when it is imported: about 1 s in every process that
# imports nbformat or nbgrader (workers, nbgrader commands). No schema used here has an IRI format.
sys.modules.setdefault("rfc3987_syntax", None)

# `nbgrader ARGS` as ``[sys.executable, "-c", NBGRADER, *ARGS]``: nbgrader's own command line without that cost
NBGRADER = ("import sys; sys.modules.setdefault('rfc3987_syntax', None); "
            "import nbgrader.apps.nbgraderapp as app; app.main()")
